/**
 * The README, docs/ and the examples' READMEs stay true to the code: every YAML block parses,
 * every serve or broker config among them (whole or a fragment) passes `credproxy validate`, and
 * every `credproxy …` command line names a command that exists with flags its help lists.
 */
import { describe, expect, test } from "bun:test";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { brokerConfigSchema } from "../../src/config/broker-schema.ts";
import { configSchema } from "../../src/config/schema.ts";
import { proxyConfigSchema } from "../../src/proxy/config/proxy-schema.ts";
import { REPO_ROOT, runCredproxy, tempDir } from "../helpers/binary.ts";

interface Block {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly text: string;
}

async function docFiles(): Promise<string[]> {
  const examples = (await readdir(join(REPO_ROOT, "examples"))).map((d) => `examples/${d}/README.md`);
  const docs = (await readdir(join(REPO_ROOT, "docs"))).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`);
  const all = ["README.md", ...docs, ...examples];
  const present = await Promise.all(all.map((f) => Bun.file(join(REPO_ROOT, f)).exists()));
  return all.filter((_, i) => present[i]);
}

function blocks(file: string, markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ file, line: start + 1, lang: open[1] ?? "", text: body.join("\n") });
  }
  return out;
}

const CONFIG_KEYS = new Set(Object.keys(configSchema.properties));
const BROKER_KEYS = new Set(Object.keys(brokerConfigSchema.properties));
const PROXY_KEYS = new Set(Object.keys(proxyConfigSchema.properties));
const TOKEN = "5e8b2d7f1a9c4e6b3d0f8a2c7e1b9d4f";
const BASE_SERVICE = `services:\n  doc-base: {auth_token: ${TOKEN}x, source_credentials: {region: us-east-1}, assumed_role: {RoleArn: "arn:aws:iam::123456789012:role/doc"}}\n`;

type Kind = "config" | "config-fragment" | "broker" | "proxy" | "other";

function kindOf(data: unknown): Kind {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return "other";
  const keys = Object.keys(data);
  if (keys.length === 0) return "other";
  if (keys.every((k) => BROKER_KEYS.has(k)) && keys.some((k) => !CONFIG_KEYS.has(k))) return "broker";
  // serve's credentials is a mapping, the proxy's a list
  const proxyShaped = keys.some((k) => !CONFIG_KEYS.has(k)) || Array.isArray((data as Record<string, unknown>).credentials);
  if (keys.every((k) => PROXY_KEYS.has(k)) && proxyShaped) return "proxy";
  if (!keys.every((k) => CONFIG_KEYS.has(k) || k.startsWith("x-"))) return "other";
  const services = (data as Record<string, unknown>).services;
  // A compose file's services have an image or a build, never an assumed_role.
  if (services && Object.values(services as object).some((s) => s && typeof s === "object" && ("image" in s || "build" in s))) return "other";
  return services ? "config" : "config-fragment";
}

/** The block as a file that validate can read: ${fromFile:} paths moved into `dir` and filled with a token. */
async function asFile(dir: string, block: Block, index: number, text: string): Promise<{ path: string; env: Record<string, string> }> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/\$\{fromEnv:(\w+)\}/g)) env[m[1]!] = `${TOKEN}${m[1]!.toLowerCase()}`;
  let moved = text;
  for (const m of text.matchAll(/\$\{fromFile:([^}]+)\}/g)) {
    const target = join(dir, "files", m[1]!);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, `${TOKEN}${index}${m[1]!.replace(/\W/g, "")}`.slice(0, 60));
    moved = moved.replace(m[0], `\${fromFile:${target}}`);
  }
  const path = join(dir, `${block.file.replace(/\W/g, "_")}-${block.line}.yaml`);
  await writeFile(path, moved);
  await chmod(path, 0o600);
  return { path, env };
}

const all: Block[] = [];
for (const file of await docFiles()) all.push(...blocks(file, await readFile(join(REPO_ROOT, file), "utf8")));

describe("code blocks in README, docs/ and examples/", () => {
  test("there are blocks to check", () => {
    expect(all.filter((b) => b.lang === "yaml").length).toBeGreaterThan(3);
  });

  test("every YAML block parses, and every serve or broker config among them passes validate", async () => {
    const dir = await tempDir("credproxy-doc-blocks-");
    let index = 0;
    for (const block of all.filter((b) => b.lang === "yaml")) {
      const where = `${block.file}:${block.line}`;
      let data: unknown;
      expect(() => (data = parse(block.text)), where).not.toThrow();
      const kind = kindOf(data);
      if (kind === "other") continue;
      const text = kind === "config-fragment" ? `${block.text}\n${BASE_SERVICE}` : block.text;
      const { path, env } = await asFile(dir, block, index++, text);
      const flag = kind === "broker" ? ["--broker"] : kind === "proxy" ? ["--proxy"] : [];
      const r = await runCredproxy(["validate", ...flag, path], { env: { AWS_REGION: "us-east-1", XDG_CONFIG_HOME: dir, ...env } });
      expect({ where, kind, code: r.code, stderr: r.stderr }).toEqual({ where, kind, code: 0, stderr: "" });
    }
    expect(index).toBeGreaterThanOrEqual(4); // the README's full config, broker.yaml and two fragments
  });

  test("every credproxy command line names a command that exists, with flags its help lists", async () => {
    const helps = new Map<string, string>();
    let flags = 0;
    for (const block of all.filter((b) => ["sh", "", "bash"].includes(b.lang))) {
      for (const raw of block.text.split("\n")) {
        const line = raw.replace(/^\s*(sudo\s+|\$\s+)?/, "").replace(/\s+#.*$/, "");
        const words = /^(?:\S+\/)?credproxy\s+(.*)$/.exec(line)?.[1]?.split(/\s+/);
        if (!words || words[0]?.startsWith("-")) continue; // `credproxy --version`, the CredProxy form
        // `tunnel up`, `agent install`: their flags are in the subcommand's help; `agent --listen` is the agent's own
        const sub = words[0] === "broker" || words[0] === "help" || (words[0] === "proxy" && /^(env|ca)$/.test(words[1] ?? "")) || (/^(tunnel|agent)$/.test(words[0] ?? "") && /^[a-z]/.test(words[1] ?? ""));
        const path = (sub ? words.slice(0, 2) : words.slice(0, 1)).filter((w) => /^[a-z][a-z-]*$/.test(w));
        const key = path.join(" ");
        if (!helps.has(key)) {
          const r = await runCredproxy([...path.filter((w) => w !== "help"), "--help"]);
          expect({ where: `${block.file}:${block.line}`, command: key, code: r.code }).toEqual({ where: `${block.file}:${block.line}`, command: key, code: 0 });
          helps.set(key, r.stdout);
        }
        const own = words.slice(0, words.includes("--") ? words.indexOf("--") : undefined);
        for (const flag of own.map((w) => w.replace(/^\[/, "")).filter((w) => /^--[a-z]/.test(w)).map((w) => w.replace(/[=\]|].*$/, ""))) {
          flags++;
          expect({ where: `${block.file}:${block.line}`, command: key, flag, listed: helps.get(key)!.includes(flag) }).toEqual({
            where: `${block.file}:${block.line}`, command: key, flag, listed: true,
          });
        }
      }
    }
    expect(helps.size).toBeGreaterThan(4);
    expect(flags).toBeGreaterThan(20);
  });
});
