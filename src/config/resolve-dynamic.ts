/**
 * Turns the validated `dynamic_services` block, in any of the forms CredProxy's code or docs
 * use, into a list of directories with file-name patterns:
 * - `directories: [{path, include_patterns, exclude_patterns}]` (the schema's form);
 * - `directories: ["/path", …]` with top-level include_patterns/exclude_patterns (older code);
 * - `directory: /path` + `file_pattern: "*.yaml"` (the README's form; upstream's schema rejects it).
 * Patterns are Python regular expressions, as in CredProxy (python-regex.ts translates them),
 * matched against the file name, not the full path, so `^\..*` really skips hidden files
 * (upstream matched full paths; compat doc §7).
 */
import type { DynamicDirectory, DynamicServicesConfig } from "./types.ts";
import type { KeyPath } from "./key-path.ts";
import type { Problem } from "./problems.ts";
import { compilePythonMatch, translatePythonRegex } from "./python-regex.ts";

export interface RawDynamicServices {
  readonly enabled: boolean;
  readonly directories?: readonly (string | RawDirectory)[];
  readonly directory?: string;
  readonly file_pattern?: string;
  readonly include_patterns?: readonly string[];
  readonly exclude_patterns?: readonly string[];
  readonly reload_interval: number;
}

interface RawDirectory {
  readonly path: string;
  readonly include_patterns: readonly string[];
  readonly exclude_patterns: readonly string[];
  readonly secrets_directory?: string;
  readonly allow_group_writable: boolean;
}

/** Where CredProxy looks when no directory is configured. */
export const DEFAULT_DYNAMIC_DIRECTORY = "/credproxy/dynamic";

export function resolveDynamicServices(raw: RawDynamicServices, problems: Problem[]): DynamicServicesConfig {
  const base: KeyPath = ["dynamic_services"];
  const legacyInclude = [...(raw.include_patterns ?? [])];
  if (raw.file_pattern !== undefined) legacyInclude.push(globToRegExp(raw.file_pattern));
  const legacyExclude = [...(raw.exclude_patterns ?? [])];

  // The legacy forms keep the safe defaults: no substitution, no group-writable files.
  const legacy = (path: string): DynamicDirectory => ({ path, include: legacyInclude, exclude: legacyExclude, allowGroupWritable: false });
  const directories: DynamicDirectory[] = (raw.directories ?? []).map((entry) =>
    typeof entry === "string"
      ? legacy(entry)
      : {
          path: entry.path,
          include: [...entry.include_patterns],
          exclude: [...entry.exclude_patterns],
          ...(entry.secrets_directory !== undefined ? { secretsDirectory: entry.secrets_directory } : {}),
          allowGroupWritable: entry.allow_group_writable,
        },
  );
  if (raw.directory !== undefined) directories.push(legacy(raw.directory));
  if (directories.length === 0) directories.push(legacy(DEFAULT_DYNAMIC_DIRECTORY));

  // Upstream logged and skipped a bad regex, which silently widened or narrowed the filter.
  raw.directories?.forEach((entry, i) => {
    if (typeof entry === "string") return;
    checkPatterns(entry.include_patterns, [...base, "directories", i, "include_patterns"], problems);
    checkPatterns(entry.exclude_patterns, [...base, "directories", i, "exclude_patterns"], problems);
  });
  checkPatterns(raw.include_patterns ?? [], [...base, "include_patterns"], problems);
  checkPatterns(raw.exclude_patterns ?? [], [...base, "exclude_patterns"], problems);

  return { enabled: raw.enabled, directories, reloadIntervalSeconds: raw.reload_interval };
}

function checkPatterns(patterns: readonly string[], at: KeyPath, problems: Problem[]): void {
  patterns.forEach((pattern, i) => {
    const translated = translatePythonRegex(pattern);
    if ("error" in translated) {
      problems.push({ path: [...at, i], at: "value", message: `is a Python regular expression credproxy cannot translate to JavaScript: ${translated.error}` });
      return;
    }
    try {
      compilePythonMatch(pattern);
    } catch (error) {
      problems.push({ path: [...at, i], at: "value", message: `is not a valid regular expression (${(error as Error).message})` });
    }
  });
}

/** `*.yaml` → `^[^/]*\.yaml$`: `*` and `?` are wildcards, everything else is literal. */
export function globToRegExp(glob: string): string {
  let out = "^";
  for (const ch of glob) {
    if (ch === "*") out += "[^/]*";
    else if (ch === "?") out += "[^/]";
    else out += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return out + "$";
}
