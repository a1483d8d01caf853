/**
 * The steps every config document goes through, whatever its schema (serve config, dynamic
 * service file, broker config): parse YAML/JSON with every scalar a string → substitute
 * ${fromEnv:…}/${fromFile:…} → YAML 1.1 booleans → validate with the generated ajv validator,
 * which types and defaults values in place. Every schema problem is reported at once.
 */
import type { ValidateFunction } from "ajv";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { problemsError, problemsFromAjv } from "./problems.ts";
import { substituteTree, type Env, type ReadFile, type SubstitutionPolicy } from "./substitute.ts";
import { parseYamlTree, type YamlTree } from "./yaml-tree.ts";
import type { KeyPath } from "./key-path.ts";
import { CONFIG_LIMITS, type ParseLimits } from "./parse-limits.ts";
import type { Problem } from "./problems.ts";

export interface PrepareOptions {
  readonly env: Env;
  readonly readFile: ReadFile;
  /** The hint when the document is empty or not a mapping: what a good one starts with. */
  readonly emptyHint: string;
  /** The command that prints this document's schema, for the hint of schema problems. */
  readonly schemaCommand?: string | undefined;
  /**
   * Only these top-level keys are substituted and validated; the rest is ignored, so a reader
   * that needs one section does not fail on another (a ${fromEnv:…} its environment lacks).
   */
  readonly pick?: readonly string[] | undefined;
  /** Size, depth and node caps; default CONFIG_LIMITS. */
  readonly limits?: ParseLimits | undefined;
  /**
   * Return the document's problems instead of throwing them, so the caller can add its own
   * (semantic) ones and report everything at once. Default false.
   */
  readonly deferProblems?: boolean | undefined;
  /** Which ${…} references are expanded; default all. */
  readonly substitution?: SubstitutionPolicy | undefined;
  /**
   * Checks the parsed document before any substitution (so a refused key never reads a file):
   * returns problems, reported like schema problems with file:line:col.
   */
  readonly precheck?: ((value: Readonly<Record<string, unknown>>) => Problem[]) | undefined;
}

/** A mapping at the top level, or an empty file when `allowEmpty` (then `data` is {}). */
export function prepareDocument(
  text: string,
  file: string,
  validate: ValidateFunction,
  schema: SchemaNode,
  options: PrepareOptions & { readonly allowEmpty?: boolean },
): { data: unknown; tree: YamlTree; problems: readonly Problem[]; substitutionErrors: readonly CredproxyError[] } {
  const tree = parseYamlTree(text, file, options.limits ?? CONFIG_LIMITS);
  const empty = tree.value === null || tree.value === undefined;
  // An empty document is a mapping with no keys: the validator still fills in the defaults.
  if (empty && options.allowEmpty) {
    const data = {};
    if (!validate(data)) throw problemsError(file, problemsFromAjv(validate.errors ?? [], { tree, data, templates: new Map() }), tree, options.schemaCommand);
    return { data, tree, problems: [], substitutionErrors: [] };
  }
  if (empty || typeof tree.value !== "object" || Array.isArray(tree.value)) {
    const what = empty ? "is empty" : "does not hold a mapping of keys at the top level";
    throw new CredproxyError(ErrorCode.ConfigInvalid, `Invalid config ${file}: the file ${what}`, {
      hint: options.emptyHint,
      details: { file },
    });
  }
  const early = options.precheck?.(tree.value as Record<string, unknown>) ?? [];
  if (early.length > 0) throw problemsError(file, early, tree, options.schemaCommand);
  const where = (path: KeyPath): string => {
    const pos = tree.locate(path, "value");
    return pos ? ` (${file}:${pos.line}:${pos.column})` : "";
  };
  const whole = tree.value as Record<string, unknown>;
  const value = options.pick ? Object.fromEntries(Object.entries(whole).filter(([key]) => options.pick!.includes(key))) : whole;
  // Every failed substitution and every schema problem are reported together; a value that
  // could not be substituted keeps its template, and its schema problem is left out.
  const failed: { path: KeyPath; error: CredproxyError }[] = [];
  const substituteOptions = { env: options.env, readFile: options.readFile, where, allow: options.substitution };
  const { value: data, templates } = substituteTree(value, substituteOptions, (path, error) => failed.push({ path, error }));
  normaliseBooleans(data, schema);
  const schemaProblems = validate(data) ? [] : problemsFromAjv(validate.errors ?? [], { tree, data, templates });
  const problems = [
    ...failed.map(({ path, error }): Problem => ({ path, at: "value", message: `cannot be substituted: ${String(error.details?.problem ?? error.message)}` })),
    ...schemaProblems.filter((p) => !failed.some((f) => isWithin(p.path, f.path))),
  ];
  const substitutionErrors = failed.map((f) => f.error);
  if (problems.length > 0 && !options.deferProblems) throw documentError(file, problems, tree, substitutionErrors, options.schemaCommand);
  return { data, tree, problems, substitutionErrors };
}

/**
 * The one error for a document's problems. A lone failed substitution keeps its own sentence
 * and hint; when every problem is a substitution the code is E_CONFIG_SUBSTITUTION.
 */
export function documentError(
  file: string,
  problems: readonly Problem[],
  tree: YamlTree,
  substitutionErrors: readonly CredproxyError[],
  schemaCommand?: string,
): CredproxyError {
  if (problems.length === 1 && substitutionErrors.length === 1) return substitutionErrors[0]!;
  const error = problemsError(file, problems, tree, schemaCommand);
  if (substitutionErrors.length < problems.length) return error;
  return new CredproxyError(ErrorCode.ConfigSubstitution, error.message, {
    hint: "Set the environment variables and create the files named above (or change the references)",
    details: error.details,
  });
}

/** Whether `path` is `prefix` or lies below it. */
export function isWithin(path: KeyPath, prefix: KeyPath): boolean {
  return prefix.length <= path.length && prefix.every((part, i) => path[i] === part);
}

export interface SchemaNode {
  readonly type?: unknown;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
}

/**
 * YAML 1.1 (CredProxy's PyYAML) reads yes/no/on/off/True/FALSE as booleans; ajv only coerces
 * "true"/"false". Where the schema wants a boolean, accept the YAML 1.1 spellings too.
 */
function normaliseBooleans(data: unknown, schema: SchemaNode): void {
  if (data === null || typeof data !== "object" || Array.isArray(data) || !schema.properties) return;
  const record = data as Record<string, unknown>;
  for (const [key, sub] of Object.entries(schema.properties)) {
    const value = record[key];
    if (sub.type === "boolean" && typeof value === "string") {
      const v = value.toLowerCase();
      if (v === "true" || v === "yes" || v === "on") record[key] = true;
      else if (v === "false" || v === "no" || v === "off") record[key] = false;
    } else normaliseBooleans(value, sub);
  }
}

/** Freezes a resolved config and everything in it, so no subcommand can change what it was given. */
export function deepFreeze<T>(value: T): T {
  // Typed arrays (an address's bytes) cannot be frozen; they are never handed out to be changed.
  if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
