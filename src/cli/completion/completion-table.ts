import { spellings, type CompletionNode } from "./command-tree.ts";

/** What each shell function asks of the table, by kind and node path. */
export interface TableRows {
  /** [kind, path, space-separated words], e.g. ["subs", "broker", "exec serve credential-process imds"]. */
  readonly rows: readonly (readonly [string, string, string])[];
  /** Flag spelling → its choices, for every flag that takes one of a few words. */
  readonly choices: readonly (readonly [string, string])[];
}

/**
 * The kinds: `words` (offered as the next word), `subs` (words that lead to another node),
 * `flags` (every spelling), `values` (spellings that take a value), `files` ("yes" when a free
 * argument may follow). Names and flags are [a-z0-9-] only, so no row needs quoting.
 */
export function tableRows(nodes: readonly CompletionNode[]): TableRows {
  const paths = new Set(nodes.map((n) => n.path));
  const rows: [string, string, string][] = [];
  const choices = new Map<string, string>();
  for (const n of nodes) {
    const child = (name: string) => paths.has(n.path === "" ? name : `${n.path} ${name}`);
    rows.push(["words", n.path, n.words.map((w) => w.name).join(" ")]);
    rows.push(["subs", n.path, n.words.filter((w) => child(w.name)).map((w) => w.name).join(" ")]);
    rows.push(["flags", n.path, spellings(n.flags).join(" ")]);
    rows.push(["values", n.path, spellings(n.flags, "value").join(" ")]);
    rows.push(["files", n.path, n.files ? "yes" : ""]);
    for (const f of n.flags) {
      if (f.choices) for (const s of spellings([f])) choices.set(s, f.choices.join(" "));
    }
  }
  for (const name of [...paths, ""]) if (/[^a-z0-9 -]/.test(name)) throw new Error(`completion: command path "${name}" needs quoting`);
  return { rows: rows.filter((r) => r[2] !== ""), choices: [...choices] };
}

/** The table as a bash/zsh function: `_credproxy_table KIND PATH` prints the words. */
export function shTable(name: string, table: TableRows): string {
  const cases = [
    ...table.rows.map(([kind, path, words]) => `    "${kind}:${path}") echo "${words}" ;;`),
    ...table.choices.map(([flag, words]) => `    "choices:${flag}") echo "${words}" ;;`),
  ];
  return `${name}() {\n  case "$1:$2" in\n${cases.join("\n")}\n  esac\n}`;
}
