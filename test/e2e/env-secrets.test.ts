/**
 * No environment variable makes the binary print a secret. The names are every environment
 * read the bundled program makes (`x.env.NAME` and every env-shaped string literal, found by
 * bundling src/main.ts without credproxy's build plugins), plus the runtime's own debug
 * switches; the compiled binary then runs `validate` and `serve` with all of them set at once,
 * to "1", "true" and a file path in turn. The config's auth_token and secret key must appear on
 * neither stdout nor stderr. (yaml's LOG_TOKENS/LOG_STREAM did print them before the build
 * neutralised those reads: release/silence-debug-env.ts.)
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, runCredproxy, spawnCredproxy, tempDir } from "../helpers/binary.ts";
import { freePort } from "../helpers/ports.ts";

const AUTH_TOKEN = "env-probe-auth-token-0123456789abcdef";
const SECRET_KEY = "env/probe/secret+key/0123456789ABCDEFGHIJ";
/** Runtime switches no source file names: Bun's fetch tracing and Node's debug channels. */
const RUNTIME_SWITCHES = ["BUN_CONFIG_VERBOSE_FETCH", "NODE_DEBUG", "DEBUG", "BUN_DEBUG", "BUN_DEBUG_QUIET_LOGS"];
/** Set by the test itself: the child needs a PATH and a HOME, and the values below name the config. */
const KEPT = new Set(["PATH", "HOME"]);

let names: string[] = [];
let dir = "";
let configPath = "";

/** Every name the bundle may read from the environment. */
async function environmentReads(): Promise<string[]> {
  const out = await tempDir("credproxy-bundle-");
  const result = await Bun.build({ entrypoints: [join(REPO_ROOT, "src/main.ts")], outdir: out, target: "bun", format: "esm", minify: false });
  if (!result.success) throw new Error(`bundle failed: ${result.logs.join("\n")}`);
  const text = await readFile(join(out, "main.js"), "utf8");
  const found = new Set<string>(RUNTIME_SWITCHES);
  for (const m of text.matchAll(/\.env\.([A-Za-z_][A-Za-z0-9_]*)/g)) found.add(m[1]!);
  // Indirect reads (process.env[NAME], env[prefix + NAME]) go through string literals.
  for (const m of text.matchAll(/["'`]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)["'`]/g)) {
    found.add(m[1]!);
    found.add(`CREDPROXY_${m[1]!}`);
  }
  return [...found].filter((n) => !KEPT.has(n)).sort();
}

function envWith(value: string): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, value]));
}

/** The lines that show a secret (empty when none does), so a failure names them without dumping everything. */
function expectNoSecret(output: string): void {
  const leaks = output.split("\n").filter((line) => line.includes(AUTH_TOKEN) || line.includes(SECRET_KEY));
  expect(leaks.map((line) => line.slice(0, 200))).toEqual([]);
}

beforeAll(async () => {
  names = await environmentReads();
  dir = await tempDir("credproxy-envprobe-");
  configPath = join(dir, "config.yaml");
  const port = await freePort();
  await writeFile(
    configPath,
    [
      "server:",
      "  host: 127.0.0.1",
      `  port: ${port}`,
      "aws_defaults:",
      "  region: us-east-1",
      "  sts_endpoint: http://127.0.0.1:9",
      "  iam_keys:",
      "    aws_access_key_id: AKIAIOSFODNN7EXAMPLE",
      `    aws_secret_access_key: ${JSON.stringify(SECRET_KEY)}`,
      "services:",
      "  app:",
      `    auth_token: ${JSON.stringify(AUTH_TOKEN)}`,
      "    assumed_role:",
      "      RoleArn: arn:aws:iam::123456789012:role/app",
      "",
    ].join("\n"),
  );
}, 30_000);

describe("no environment variable makes a secret appear on stdout or stderr", () => {
  test("the probe covers yaml's debug switches and hundreds of names", () => {
    expect(names).toContain("LOG_TOKENS");
    expect(names).toContain("LOG_STREAM");
    expect(names.length).toBeGreaterThan(100);
  });

  for (const [label, value] of [["1", "1"], ["true", "true"], ["a file path", ""]] as const) {
    test(`validate, with every variable set to ${label}`, async () => {
      const run = await runCredproxy(["validate", configPath], { env: envWith(value || configPath), cwd: dir });
      expectNoSecret(run.stdout + run.stderr);
      expect({ code: run.code, stderr: run.code === 0 ? "" : run.stderr }).toEqual({ code: 0, stderr: "" });
    }, 20_000);

    test(`serve at debug level, with every variable set to ${label}`, async () => {
      const proc = spawnCredproxy(["serve", "--config", configPath, "--log-level", "debug"], { env: envWith(value || configPath), cwd: dir });
      try {
        await proc.waitForLine(/credproxy serve listening/, 15_000);
        const port = Number(/port: (\d+)/.exec(await readFile(configPath, "utf8"))![1]);
        await fetch(`http://127.0.0.1:${port}/v1/credentials`, { headers: { authorization: AUTH_TOKEN } }).then((r) => r.text());
        await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.text());
      } finally {
        await proc.kill();
      }
      expectNoSecret(proc.stdoutLines.join("\n") + proc.stderrLines.join("\n"));
    }, 30_000);
  }
});
