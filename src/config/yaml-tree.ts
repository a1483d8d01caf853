/**
 * Parses a YAML (or JSON, which is YAML) config into plain data in which **every scalar is a
 * string**: the failsafe schema leaves typing to the JSON Schema, so `auth_token: 0123` stays
 * "0123" and `port: ${fromEnv:PORT}` can become a number after substitution. Plain `null`, `~`
 * and empty values become "absent" (the key is dropped, so its default applies).
 *
 * It also remembers where each key and value starts, so errors can say file:line:column.
 *
 * Size, depth and node count are capped before anything walks the document (parse-limits.ts),
 * and duplicate keys are found with one Set per mapping (yaml's own uniqueKeys check compares
 * every pair: 25,000 keys took 6 s).
 */
import { Composer, isMap, isScalar, isSeq, LineCounter, Parser, visit, YAMLParseError, type CST, type Document, type Node } from "yaml";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { displayPath, type KeyPath } from "./key-path.ts";
import { breachMessage, CONFIG_LIMITS, findLimitBreach, type ParseLimits } from "./parse-limits.ts";

export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface YamlTree {
  /** Plain data: objects, arrays and strings (null only as a list item). */
  readonly value: unknown;
  /** Display paths of keys whose value was null/empty and was therefore dropped. */
  readonly nullKeys: ReadonlySet<string>;
  /** Where a key (or, with "value", its value) starts; falls back to the nearest ancestor. */
  locate(path: KeyPath, what?: "key" | "value"): Position | undefined;
}

const NULLS = new Set(["", "~", "null", "Null", "NULL"]);

export function parseYamlTree(text: string, file: string, limits: ParseLimits = CONFIG_LIMITS): YamlTree {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > limits.maxBytes) throw tooLarge(file, breachMessage(limits, "maxBytes", bytes), { file, limit: "maxBytes" });
  const lineCounter = new LineCounter();
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  const breach = findLimitBreach(tokens, limits);
  if (breach) {
    const { line, column } = position(breach.offset);
    throw tooLarge(`${file}:${line}:${column}`, breachMessage(limits, breach.limit), { file, line, column, limit: breach.limit });
  }
  const doc = composeOne(tokens, text.length);
  const keys = new Map<string, number>();
  const values = new Map<string, number>();
  if (doc.errors.length === 0) {
    if (doc.contents?.range) values.set(displayPath([]), doc.contents.range[0]);
    indexNode(doc.contents, [], keys, values, doc.errors);
  }
  const first = doc.errors[0];
  if (first) {
    const { line, column } = position(first.pos[0]);
    const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : "";
    // Our own wording around yaml's message: its "pretty" form quotes the source line, which may hold a secret.
    throw new CredproxyError(ErrorCode.ConfigSyntax, `Cannot parse ${file}:${line}:${column} as YAML: ${first.message}${more}`, {
      hint: "Fix the YAML at that line (indentation, quotes, a missing ':' or ']'); JSON is accepted too",
      details: { file, line, column, yamlCode: first.code },
    });
  }

  visit(doc, {
    Scalar(key, node) {
      if (key !== "key" && node.type === "PLAIN" && NULLS.has(String(node.value))) node.value = null;
    },
  });

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new CredproxyError(ErrorCode.ConfigSyntax, `Cannot parse ${file} as YAML: ${(error as Error).message}`, {
      hint: "Check the file's anchors (&name) and aliases (*name)",
      cause: error,
    });
  }

  const nullKeys = new Set<string>();
  const budget = { left: limits.maxNodes };
  const value = dropNulls(raw, [], nullKeys, budget);
  if (budget.left < 0) {
    throw tooLarge(file, `${breachMessage(limits, "maxNodes")} once its aliases (*name) are expanded`, { file, limit: "maxNodes" });
  }

  return {
    value,
    nullKeys,
    locate(path, what = "key") {
      for (let n = path.length; n >= 0; n--) {
        const id = displayPath(path.slice(0, n));
        const offset = (n === path.length && what === "value" ? values.get(id) : undefined) ?? keys.get(id) ?? values.get(id);
        if (offset !== undefined) return position(offset);
      }
      return undefined;
    },
  };
}

/** A limit of parse-limits.ts was passed at `where` (the file, and line:column when known). */
function tooLarge(where: string, breach: string, details: Record<string, unknown>): CredproxyError {
  return new CredproxyError(ErrorCode.ConfigSyntax, `Cannot parse ${where} as it ${breach}`, {
    hint: "Nothing credproxy reads needs to be this large or this deeply nested; split the services over several files, or remove the bulk",
    details,
  });
}

/** The one document of the text; a second one is an error, as with yaml's parseDocument. */
function composeOne(tokens: readonly CST.Token[], length: number): Document.Parsed {
  const composer = new Composer({ schema: "failsafe", merge: true, uniqueKeys: false });
  let doc: Document.Parsed | undefined;
  for (const next of composer.compose(tokens, true, length)) {
    if (!doc) doc = next;
    else {
      doc.errors.push(new YAMLParseError(next.range.slice(0, 2) as [number, number], "MULTIPLE_DOCS", "Source contains multiple documents"));
      break;
    }
  }
  return doc!;
}

function indexNode(node: Node | null, path: KeyPath, keys: Map<string, number>, values: Map<string, number>, errors: YAMLParseError[]): void {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const keyNode = pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      if (key === "<<") continue; // merge key: the merged entries keep their anchor's positions
      if (seen.has(key)) {
        const at = (isScalar(keyNode) && keyNode.range?.[0]) || node.range?.[0] || 0;
        errors.push(new YAMLParseError([at, at + 1], "DUPLICATE_KEY", "Map keys must be unique"));
        return;
      }
      seen.add(key);
      const childPath = [...path, key];
      const id = displayPath(childPath);
      if (isScalar(keyNode) && keyNode.range) keys.set(id, keyNode.range[0]);
      const valueNode = pair.value as Node | null;
      if (valueNode?.range && valueNode.range[0] !== valueNode.range[1]) values.set(id, valueNode.range[0]);
      indexNode(valueNode, childPath, keys, values, errors);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const childPath = [...path, i];
      const itemNode = item as Node | null;
      if (itemNode?.range) values.set(displayPath(childPath), itemNode.range[0]);
      indexNode(itemNode, childPath, keys, values, errors);
    });
  }
}

/**
 * A key with no value means "not set": drop it so the schema's default (or `required`) applies.
 * Counts nodes against `budget` as it goes and stops once it runs out (aliases can multiply them).
 */
function dropNulls(node: unknown, path: KeyPath, nullKeys: Set<string>, budget: { left: number }): unknown {
  if (--budget.left < 0) return undefined;
  if (Array.isArray(node)) return node.map((item, i) => dropNulls(item, [...path, i], nullKeys, budget));
  if (node === null || typeof node !== "object") return node;
  const entries: [string, unknown][] = [];
  for (const [key, value] of Object.entries(node)) {
    if (value === null || value === undefined) nullKeys.add(displayPath([...path, key]));
    else entries.push([key, dropNulls(value, [...path, key], nullKeys, budget)]);
  }
  return Object.fromEntries(entries);
}
