/** A location inside a config document: map keys and list indexes, outermost first. */
export type KeyPath = readonly (string | number)[];

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/**
 * The dotted form users read in messages: `services.app.assumed_role.RoleArn`,
 * `dynamic_services.directories[0].path`, and `services["my.app"]` for keys that would be ambiguous.
 */
export function displayPath(path: KeyPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (PLAIN_KEY.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === "" ? "(top level)" : out;
}

/**
 * Parses an ajv `instancePath` (a JSON pointer) back into a key path; segments that index a list
 * in `root` become numbers, so `/services/0` (a service named "0") and `/directories/0` differ.
 */
export function fromPointer(pointer: string, root: unknown): (string | number)[] {
  if (pointer === "") return [];
  const path: (string | number)[] = [];
  let node = root;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    const part = Array.isArray(node) ? Number(key) : key;
    path.push(part);
    node = node !== null && typeof node === "object" ? (node as Record<string | number, unknown>)[part] : undefined;
  }
  return path;
}
