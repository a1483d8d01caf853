/**
 * Turns ajv errors and cross-field findings into messages a user can act on: each names the key
 * path in dotted form, the file:line:column, what is wrong and (where we can tell) what would fix
 * it. All problems of a file are reported together in one CredproxyError.
 *
 * Secrets are never echoed: values under the keys in SECRET_KEYS are described, not shown, and a
 * value that came from ${fromEnv:…}/${fromFile:…} is shown as its reference, not its content.
 */
import type { ErrorObject } from "ajv";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { displayPath, fromPointer, type KeyPath } from "./key-path.ts";
import type { YamlTree } from "./yaml-tree.ts";

export interface Problem {
  readonly path: KeyPath;
  readonly message: string;
  /** Point at the key (default) or at its value. */
  readonly at?: "key" | "value";
}

/** Keys whose values must never appear in a message (or anything below them). */
export const SECRET_KEYS: ReadonlySet<string> = new Set(["auth_token", "relative_uri", "aws_secret_access_key", "session_token", "TokenCode", "iam_keys", "token", "value", "command"]);

interface SchemaNode {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly "x-expected"?: string;
}

const TYPE_NAMES: Record<string, string> = {
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
  string: "a string",
  object: "a mapping (key: value lines)",
  array: "a list",
};

export interface FormatContext {
  readonly tree: YamlTree;
  /** Data as validated (after substitution and coercion). */
  readonly data: unknown;
  /** Original text of substituted strings, by display path. */
  readonly templates: ReadonlyMap<string, string>;
}

export function problemsFromAjv(errors: readonly ErrorObject[], ctx: FormatContext): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const e of withoutAlternatives(errors)) {
    const problem = fromAjvError(e, ctx);
    const id = displayPath(problem.path) + "\0" + problem.message;
    if (!seen.has(id)) out.push(problem), seen.add(id);
  }
  return out;
}

/**
 * An anyOf that says what it expects (x-expected) is reported once, as that: the errors of
 * each alternative it tried ("must be text", "must be a mapping", …) would only confuse. When
 * the value has the shape of an alternative and fails deeper inside (a key of a mapping), the
 * deeper errors are the ones that say what to fix, so they are kept instead.
 */
function withoutAlternatives(errors: readonly ErrorObject[]): ErrorObject[] {
  let out = [...errors];
  for (const e of errors) {
    if (e.keyword !== "anyOf" || (e.parentSchema as SchemaNode | undefined)?.["x-expected"] === undefined) continue;
    const at = e.instancePath;
    const deeper = out.some((o) => o.instancePath.startsWith(at + "/"));
    out = out.filter((o) => o.instancePath !== at || (!deeper && o === e));
  }
  return out;
}

function fromAjvError(e: ErrorObject, ctx: FormatContext): Problem {
  const path = fromPointer(e.instancePath, ctx.data);
  const parent = (e.parentSchema ?? {}) as SchemaNode;
  const params = e.params as Record<string, unknown>;
  const current = (): string => currentValue(path, e.data, ctx);
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(params.additionalProperty);
      if (path.length === 1 && path[0] === "services") {
        return { path: [...path, key], message: 'invalid service name; use only letters, digits, "_" and "-"' };
      }
      return { path: [...path, key], message: "unknown key" + suggestion(key, parent) };
    }
    case "required": {
      const key = String(params.missingProperty);
      const full = [...path, key];
      const expected = parent.properties?.[key]?.["x-expected"];
      const what = ctx.tree.nullKeys.has(displayPath(full)) ? "has no value" : "is required";
      return { path: full, message: what + (expected ? ` (expected ${expected})` : "") };
    }
    case "type": {
      const expected = [params.type].flat().map((t) => TYPE_NAMES[String(t)] ?? String(t)).join(" or ");
      const leaf = !/object|array/.test(String(params.type));
      return { path, at: "value", message: `must be ${expected}${leaf ? current() : ""}` };
    }
    case "minimum":
    case "maximum":
      return { path, at: "value", message: `must be ${range(parent)}${current()}` };
    case "pattern":
      return { path, at: "value", message: `must be ${parent["x-expected"] ?? `text matching ${String(params.pattern)}`}${current()}` };
    case "enum": {
      const allowed = (params.allowedValues as unknown[] | undefined) ?? [];
      const near = closest(String(e.data), allowed.map(String));
      return { path, at: "value", message: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}${current()}${near ? `; did you mean "${near}"?` : ""}` };
    }
    case "anyOf":
      return { path, at: "value", message: `must be ${parent["x-expected"] ?? "one of the forms the schema allows"}${current()}` };
    case "minLength":
      return { path, at: "value", message: params.limit === 1 ? "must not be empty" : `must be at least ${String(params.limit)} characters long` };
    case "maxLength":
      return { path, at: "value", message: `must be at most ${String(params.limit)} characters long` };
    case "minItems":
      return { path, at: "value", message: `must list at least ${String(params.limit)} item(s)` };
    case "maxItems":
      return { path, at: "value", message: `must list at most ${String(params.limit)} items` };
    default:
      return { path, at: "value", message: e.message ?? `fails the ${e.keyword} rule` };
  }
}

function range(schema: SchemaNode): string {
  const { minimum: lo, maximum: hi } = schema;
  if (lo !== undefined && hi !== undefined) return `from ${lo} to ${hi}`;
  return lo !== undefined ? `at least ${lo}` : `at most ${String(hi)}`;
}

/** "; current value is …", unless the value is a secret or came from a substitution. */
function currentValue(path: KeyPath, value: unknown, ctx: FormatContext): string {
  if (path.some((part) => typeof part === "string" && SECRET_KEYS.has(part))) return " (value not shown: secret)";
  const template = ctx.templates.get(displayPath(path));
  if (template !== undefined) return `; the value comes from ${JSON.stringify(template)}`;
  if (typeof value === "object" && value !== null) return "";
  const text = JSON.stringify(value) ?? String(value);
  return `; current value is ${text.length > 80 ? text.slice(0, 77) + '…"' : text}`;
}

/** `; did you mean "port"?`, or `; did you mean "source_credentials.region"?` for a key one level too high. */
function suggestion(key: string, schema: SchemaNode): string {
  const here = Object.keys(schema.properties ?? {});
  const close = closest(key, here);
  if (close) return `; did you mean "${close}"?`;
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    if (child.properties && Object.hasOwn(child.properties, key)) return `; did you mean "${name}.${key}"?`;
  }
  return here.length > 0 && here.length <= 8 ? `; allowed keys here: ${here.join(", ")}` : "";
}

/** The candidate within a small edit distance (case, "-" vs "_" and swapped letters forgiven). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, "_");
  const w = norm(word);
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  for (const candidate of candidates) {
    const d = editDistance(w, norm(candidate));
    if (d < bestDistance || (d === bestDistance && best === undefined)) (best = candidate), (bestDistance = d);
  }
  return best;
}

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions ("prot" → "port" is 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** One ConfigInvalid error listing every problem, one per line, in file order. */
export function problemsError(
  file: string,
  problems: readonly Problem[],
  tree: YamlTree | undefined,
  schemaCommand = "credproxy validate --print-schema",
): CredproxyError {
  const located = problems.map((p) => {
    const pos = tree?.locate(p.path, p.at ?? "key");
    return { ...p, pos, text: `${pos ? `${file}:${pos.line}:${pos.column}: ` : ""}${displayPath(p.path)}: ${p.message}` };
  });
  located.sort((a, b) => (a.pos?.line ?? Infinity) - (b.pos?.line ?? Infinity) || (a.pos?.column ?? 0) - (b.pos?.column ?? 0));
  const head = located.length === 1 ? `Invalid config ${file}:` : `Invalid config ${file} (${located.length} problems):`;
  return new CredproxyError(ErrorCode.ConfigInvalid, [head, ...located.map((p) => "  " + p.text)].join("\n"), {
    hint: `Fix the keys listed above; \`${schemaCommand}\` prints every key with its rules`,
    details: {
      file,
      problems: located.map((p) => ({ path: displayPath(p.path), message: p.message, line: p.pos?.line, column: p.pos?.column })),
    },
  });
}
