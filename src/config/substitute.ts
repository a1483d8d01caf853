/**
 * `${fromEnv:NAME}` and `${fromFile:/path}` expansion inside config strings, as CredProxy does it
 * (reference/credproxy-compat.md §3): anywhere in a string, several per string, expanded again in
 * their own results up to 10 levels deep. Tag names and separator come from
 * `${NS}FROM_ENV_TAG`, `${NS}FROM_FILE_TAG` and `${NS}TAG_SEPARATOR` (NS = CREDPROXY_NAMESPACE or
 * "CREDPROXY_"). Malformed forms such as `${VAR}` are left alone.
 *
 * Everything is passed in (env, readFile) so tests never touch process.env or the disk.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { displayPath, type KeyPath } from "./key-path.ts";
import { FROM_FILE_MAX_BYTES } from "./parse-limits.ts";

export type Env = Readonly<Record<string, string | undefined>>;
/** Reads a whole file as UTF-8; throws (with a Node-style `code`) when it cannot. */
export type ReadFile = (path: string) => string;

export interface SubstituteOptions {
  readonly env: Env;
  readonly readFile: ReadFile;
  /** Appends " (file:line:col)" for a key path in messages; optional. */
  readonly where?: ((path: KeyPath) => string) | undefined;
  /**
   * Which references may be expanded (default "all"). Dynamic service files get "none", or
   * "fromFile" when their directory names a secrets_directory; any other reference is an error.
   */
  readonly allow?: SubstitutionPolicy | undefined;
}

export interface SubstitutionPolicy {
  readonly kinds: "all" | "fromFile" | "none";
  /** Why a reference is refused and what to do, e.g. "set secrets_directory on the directory in the main config". */
  readonly refusal: string;
}

export interface SubstitutionSyntax {
  readonly fromEnvTag: string;
  readonly fromFileTag: string;
  readonly separator: string;
}

/** Results are expanded again at most this many levels deep; deeper means a cycle, most likely. */
export const MAX_SUBSTITUTION_DEPTH = 10;

/** The environment-variable prefix CredProxy reads its own settings from. */
export function envNamespace(env: Env): string {
  return env.CREDPROXY_NAMESPACE ?? "CREDPROXY_";
}

export function substitutionSyntax(env: Env): SubstitutionSyntax {
  const ns = envNamespace(env);
  return {
    fromEnvTag: env[`${ns}FROM_ENV_TAG`] || "fromEnv",
    fromFileTag: env[`${ns}FROM_FILE_TAG`] || "fromFile",
    separator: env[`${ns}TAG_SEPARATOR`] || ":",
  };
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function referencePattern(syntax: SubstitutionSyntax): RegExp {
  const tags = `${escapeRegExp(syntax.fromEnvTag)}|${escapeRegExp(syntax.fromFileTag)}`;
  return new RegExp(`\\$\\{(${tags})${escapeRegExp(syntax.separator)}([^}]+)\\}`, "g");
}

/**
 * Expands every reference in one string. `path` only feeds error messages.
 * Throws CredproxyError(ConfigSubstitution) for a missing variable or file, or past the depth limit.
 */
export function substituteString(value: string, opts: SubstituteOptions, path: KeyPath = []): string {
  const syntax = substitutionSyntax(opts.env);
  return expand(value, syntax, referencePattern(syntax), opts, path, []);
}

function expand(value: string, syntax: SubstitutionSyntax, pattern: RegExp, opts: SubstituteOptions, path: KeyPath, chain: readonly string[]): string {
  return value.replace(pattern, (reference: string, tag: string, name: string) => {
    const nextChain = [...chain, reference];
    if (nextChain.length > MAX_SUBSTITUTION_DEPTH) {
      throw new CredproxyError(
        ErrorCode.ConfigSubstitution,
        `Cannot substitute ${at(path, opts)} as references nest more than ${MAX_SUBSTITUTION_DEPTH} levels deep: ${nextChain.slice(0, 4).join(" → ")} → …`,
        {
          hint: "Look for a variable or file whose value refers back to itself, directly or through others",
          details: { path: displayPath(path), problem: `references nest more than ${MAX_SUBSTITUTION_DEPTH} levels deep (${nextChain[0]} → …)` },
        },
      );
    }
    const isEnv = tag === syntax.fromEnvTag;
    refuseUnlessAllowed(isEnv, reference, opts, path);
    const resolved = isEnv ? fromEnv(name, reference, opts, path) : fromFile(name, reference, opts, path);
    return expand(resolved, syntax, pattern, opts, path, nextChain);
  });
}

function refuseUnlessAllowed(isEnv: boolean, reference: string, opts: SubstituteOptions, path: KeyPath): void {
  const kinds = opts.allow?.kinds ?? "all";
  if (kinds === "all" || (kinds === "fromFile" && !isEnv)) return;
  const what = kinds === "none" ? "substitution is off here" : "only ${fromFile:…} references are allowed here";
  throw new CredproxyError(ErrorCode.ConfigSubstitution, `Cannot substitute ${reference} in ${at(path, opts)} as ${what}`, {
    hint: opts.allow!.refusal,
    details: { path: displayPath(path), problem: `${reference}: ${what}` },
  });
}

function fromEnv(name: string, reference: string, opts: SubstituteOptions, path: KeyPath): string {
  const value = opts.env[name];
  if (value !== undefined) return value; // an empty variable is a valid (empty) value
  throw new CredproxyError(
    ErrorCode.ConfigSubstitution,
    `Cannot substitute ${reference} in ${at(path, opts)} as environment variable "${name}" is not set`,
    {
      hint: `Set ${name} in credproxy's environment (an empty value is allowed), or change the reference`,
      details: { path: displayPath(path), variable: name, problem: `${reference}: environment variable "${name}" is not set` },
    },
  );
}

function fromFile(file: string, reference: string, opts: SubstituteOptions, path: KeyPath): string {
  let content: string;
  try {
    content = opts.readFile(file);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = fileProblem(code, error);
    throw new CredproxyError(
      ErrorCode.ConfigSubstitution,
      `Cannot substitute ${reference} in ${at(path, opts)} as file "${file}" ${why}`,
      { hint: `Create ${file} (or mount it into the container), or change the reference`, cause: error, details: { path: displayPath(path), file, problem: `${reference}: file "${file}" ${why}` } },
    );
  }
  // A one-line file loses its single trailing newline (echo > file); multi-line content is kept as is.
  if (content.endsWith("\n") && content.indexOf("\n") === content.length - 1) return content.slice(0, -1);
  return content;
}

function fileProblem(code: unknown, error: unknown): string {
  switch (code) {
    case "ENOENT":
      return "does not exist";
    case "EACCES":
      return "is not readable (permission denied)";
    case "EISDIR":
    case "ENOTREGULAR":
      return "is not a regular file (a directory, FIFO or device is never read)";
    case "EFBIG":
      return `is larger than ${FROM_FILE_MAX_BYTES} bytes (the \${fromFile:…} size limit)`;
    case "EOUTSIDE":
      return "is not inside the directory's secrets_directory";
    case "ELOOP":
      return "is a symbolic link, which is not followed here";
    default:
      return `cannot be read (${String(code ?? error)})`;
  }
}

function at(path: KeyPath, opts: SubstituteOptions): string {
  const name = path.length > 0 ? displayPath(path) : "a value";
  return opts.where && path.length > 0 ? `${name}${opts.where(path)}` : name;
}

/**
 * Expands references in every string of a parsed config tree (map keys are left alone).
 * Returns a new tree plus, for each string that held a reference, its original text: error
 * messages show that template instead of the substituted value, which may be a secret.
 */
export function substituteTree(
  tree: unknown,
  opts: SubstituteOptions,
  /** Told about each string that cannot be substituted, which then keeps its template; without it the first failure throws. */
  onError?: (path: KeyPath, error: CredproxyError) => void,
): { value: unknown; templates: Map<string, string> } {
  const syntax = substitutionSyntax(opts.env);
  const pattern = referencePattern(syntax);
  const templates = new Map<string, string>();
  const walk = (node: unknown, path: KeyPath): unknown => {
    if (typeof node === "string") {
      let out = node;
      try {
        out = expand(node, syntax, pattern, opts, path, []);
      } catch (error) {
        if (!onError || !(error instanceof CredproxyError)) throw error;
        onError(path, error);
        templates.set(displayPath(path), node);
      }
      if (out !== node) templates.set(displayPath(path), node);
      return out;
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === "object") {
      // fromEntries defines own properties, so even a "__proto__" key stays a plain key
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value, [...path, key])]));
    }
    return node;
  };
  return { value: walk(tree, []), templates };
}
