/**
 * The runs of runs_dir: one file per sandbox (NAME.yaml, NAME.yml or NAME.json), its own
 * token, policy and credentials. A file that does not load is left out and reported, never
 * fatal: one orchestrator's bad write must not take the other runs down. Two runs with the
 * same token would make a token ambiguous, so both are left out.
 */
import { readdirSync } from "node:fs";
import { extname, join } from "node:path";
import { readRegularFile } from "../config/checked-file.ts";
import { CONFIG_MAX_BYTES } from "../config/parse-limits.ts";
import { formatError } from "../errors.ts";
import type { Tenant } from "./config/proxy-config.ts";
import { parseRunText, type ProxyConfigOptions } from "./config/load-proxy-config.ts";

const RUN_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

export interface RunsLoad {
  readonly runs: readonly Tenant[];
  /** file → why it was left out */
  readonly problems: ReadonlyMap<string, string>;
  readonly missing: boolean;
}

export function loadRuns(dir: string, options: ProxyConfigOptions = {}): RunsLoad {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") return { runs: [], problems: new Map(), missing: true };
    return { runs: [], problems: new Map([[dir, `cannot read runs_dir: ${code ?? String(error)}`]]), missing: false };
  }
  const problems = new Map<string, string>();
  const runs: Tenant[] = [];
  for (const name of names) {
    const ext = extname(name);
    const base = name.slice(0, -ext.length);
    if (!EXTENSIONS.has(ext) || !RUN_FILE.test(base)) continue;
    const file = join(dir, name);
    try {
      runs.push(parseRunText(readRegularFile(file, CONFIG_MAX_BYTES), file, base, options));
    } catch (error) {
      problems.set(file, formatError(error));
    }
  }
  return { runs: withoutSharedTokens(runs, problems), problems, missing: false };
}

function withoutSharedTokens(runs: readonly Tenant[], problems: Map<string, string>): Tenant[] {
  const byToken = new Map<string, Tenant[]>();
  for (const run of runs) byToken.set(run.token!, [...(byToken.get(run.token!) ?? []), run]);
  const kept: Tenant[] = [];
  for (const run of runs) {
    const sharing = byToken.get(run.token!)!;
    if (sharing.length > 1) problems.set(run.source, `its token is also the token of ${sharing.filter((r) => r !== run).map((r) => r.name).join(", ")}; every run needs its own`);
    else if (runs.filter((r) => r.name === run.name).length > 1) problems.set(run.source, `another file also names the run "${run.name}"`);
    else kept.push(run);
  }
  return kept;
}
