/**
 * Parses a YAML (or JSON, which is YAML) config into plain data in which **every scalar is a
 * string**: the failsafe schema leaves typing to the JSON Schema, so `auth_token: 0123` stays
 * "0123" and `port: ${fromEnv:PORT}` can become a number after substitution. Plain `null`, `~`
 * and empty values become "absent" (the key is dropped, so its default applies).
 *
 * It also remembers where each key and value starts, so errors can say file:line:column.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Node } from "yaml";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { displayPath, type KeyPath } from "./key-path.ts";

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

export function parseYamlTree(text: string, file: string): YamlTree {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { schema: "failsafe", merge: true, uniqueKeys: true, prettyErrors: false, lineCounter });
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
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

  const keys = new Map<string, number>();
  const values = new Map<string, number>();
  if (doc.contents?.range) values.set(displayPath([]), doc.contents.range[0]);
  indexNode(doc.contents, [], keys, values);
  const nullKeys = new Set<string>();
  const value = dropNulls(raw, [], nullKeys);

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

function indexNode(node: Node | null, path: KeyPath, keys: Map<string, number>, values: Map<string, number>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const keyNode = pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      if (key === "<<") continue; // merge key: the merged entries keep their anchor's positions
      const childPath = [...path, key];
      const id = displayPath(childPath);
      if (isScalar(keyNode) && keyNode.range) keys.set(id, keyNode.range[0]);
      const valueNode = pair.value as Node | null;
      if (valueNode?.range && valueNode.range[0] !== valueNode.range[1]) values.set(id, valueNode.range[0]);
      indexNode(valueNode, childPath, keys, values);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const childPath = [...path, i];
      const itemNode = item as Node | null;
      if (itemNode?.range) values.set(displayPath(childPath), itemNode.range[0]);
      indexNode(itemNode, childPath, keys, values);
    });
  }
}

/** A key with no value means "not set": drop it so the schema's default (or `required`) applies. */
function dropNulls(node: unknown, path: KeyPath, nullKeys: Set<string>): unknown {
  if (Array.isArray(node)) return node.map((item, i) => dropNulls(item, [...path, i], nullKeys));
  if (node === null || typeof node !== "object") return node;
  const entries: [string, unknown][] = [];
  for (const [key, value] of Object.entries(node)) {
    if (value === null || value === undefined) nullKeys.add(displayPath([...path, key]));
    else entries.push([key, dropNulls(value, [...path, key], nullKeys)]);
  }
  return Object.fromEntries(entries);
}
