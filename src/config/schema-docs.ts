/**
 * docs/configuration.md, written from the JSON Schemas themselves so the reference cannot
 * drift from what the loader accepts: one table per file kind, a row per key with its type,
 * default and description. `bun src/config/schema-files.ts` rewrites it; a test compares.
 */

interface Node {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly "x-expected"?: string;
  readonly properties?: Readonly<Record<string, Node>>;
  readonly patternProperties?: Readonly<Record<string, Node>>;
  readonly items?: Node;
  readonly additionalProperties?: boolean | Node;
}

interface Row {
  readonly key: string;
  readonly node: Node;
}

const SECTIONS: readonly { title: string; file: string; intro: string }[] = [
  { title: "The serve config", file: "config", intro: "`credproxy serve --config FILE` (CredProxy's format, and credproxy's extensions); `credproxy validate FILE` checks it." },
  { title: "A dynamic service file", file: "services-file", intro: "A file in a `dynamic_services` directory: the `services:` map of the serve config, nothing else. Its trust model is in docs/security.md." },
  { title: "The broker config", file: "broker", intro: "`~/.config/credproxy/broker.yaml`, the defaults of every `credproxy broker` command; `credproxy validate --broker` checks it." },
  { title: "The proxy config", file: "proxy", intro: "`proxy.yaml`, the config of `credproxy proxy`. `credproxy validate --proxy FILE` checks it; the proxy command itself is still being built (issue 10)." },
  { title: "A proxy run file", file: "proxy-run", intro: "A file in the proxy's `runs_dir`: one run (tenant) with its own token, policy and credentials." },
];

export function schemaReference(schemas: Readonly<Record<string, unknown>>): string {
  const out = [
    "# Configuration reference",
    "",
    "Generated from the JSON Schemas in `schema/` (the ones credproxy validates with) by",
    "`bun src/config/schema-files.ts`; do not edit by hand. `${fromEnv:NAME}` and `${fromFile:/path}`",
    "may stand in any string value of the serve, broker and proxy configs (see [serve.md](serve.md)). Keys starting with",
    "`x-` are extensions, accepted and ignored, where the schema says so.",
    "",
  ];
  for (const section of SECTIONS) {
    const schema = schemas[`${section.file}.schema.json`] as Node;
    out.push(`## ${section.title}`, "", section.intro, "", "| key | type | default | description |", "|---|---|---|---|");
    for (const row of rows(schema, "")) out.push(`| \`${row.key}\` | ${typeOf(row.node)} | ${defaultOf(row.node)} | ${describe(row.node)} |`);
    out.push("");
  }
  return out.join("\n");
}

function rows(node: Node, prefix: string): Row[] {
  const out: Row[] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (key === "$schema") continue;
    out.push({ key: prefix + key, node: child }, ...rows(child, `${prefix}${key}.`));
    if (child.items) out.push(...rows(child.items, `${prefix}${key}[].`));
  }
  for (const [pattern, child] of Object.entries(node.patternProperties ?? {})) {
    if (pattern === "^x-") continue;
    out.push(...rows(child, `${prefix}<name>.`));
  }
  return out;
}

function typeOf(node: Node): string {
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(", ");
  const types = [node.type ?? "any"].flat();
  const range = node.minimum !== undefined || node.maximum !== undefined ? ` ${node.minimum ?? ""}..${node.maximum ?? ""}` : "";
  return types.join(" or ") + range;
}

function defaultOf(node: Node): string {
  if (node.default === undefined) return "";
  if (typeof node.default === "object" && node.default !== null && Object.keys(node.default).length === 0) return "";
  return `\`${JSON.stringify(node.default)}\``;
}

function describe(node: Node): string {
  const text = node.description ?? "";
  const expected = node["x-expected"] && !text.includes(node["x-expected"]) ? ` Expected: ${node["x-expected"]}.` : "";
  return (text + expected).replace(/\|/g, "\\|").replace(/</g, "&lt;").replace(/\n/g, " ");
}
