/**
 * `validate` accepts exactly what start-up accepts: each check serve and the broker commands
 * make of a config before serving is made by validate too, with the same message. Every case
 * runs the compiled binary twice, as validate and as the command that would start.
 */
import { describe, expect, test } from "bun:test";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCredproxy, tempDir } from "../helpers/binary.ts";

const ROLE = "arn:aws:iam::123456789012:role/app";
const TOKEN = "7c2e9f4a1b6d8e3f5a0c2b4d6e8f1a3c";
const serveConfig = (extra: string, token = TOKEN) =>
  `server: {port: 18411}\n${extra}\naws_defaults: {region: us-east-1}\nservices:\n  app: {auth_token: "${token}", assumed_role: {RoleArn: "${ROLE}"}}\n`;

interface Case {
  readonly name: string;
  readonly broker: boolean;
  readonly text: string;
  /** The command that would start with this config; --config FILE is appended. */
  readonly start: string[];
  readonly message: string;
  readonly env?: Record<string, string>;
}

const CASES: Case[] = [
  { name: "a token with a line break", broker: false, text: serveConfig("", "${fromEnv:T}"), env: { T: "4f9a2c7e1b8d\n3a6f0e5c9b2d" }, start: ["serve"], message: "services.app.auth_token: holds a line break" },
  { name: "a token too easy to guess", broker: false, text: serveConfig("", "aaaaaaaaaaaa"), start: ["serve"], message: "services.app.auth_token: is too easy to guess" },
  { name: "a metrics listener on server.port", broker: false, text: serveConfig("metrics: {prometheus: {enabled: true, port: 18411}}"), start: ["serve"], message: "metrics.prometheus.port: is server.port too" },
  { name: "imds.address with a port", broker: true, text: 'imds: {address: "169.254.169.254:80"}\n', start: ["broker", "imds"], message: 'imds.address: invalid address "169.254.169.254:80"' },
  { name: "an allowed executable that does not exist", broker: true, text: "socket: {allow_exes: [/nonexistent/bin/tool]}\n", start: ["broker", "serve"], message: 'socket.allow_exes[0]: Cannot allow executable "/nonexistent/bin/tool" as it does not exist' },
  { name: "an unknown log level", broker: true, text: "log_level: loud\n", start: ["broker", "serve"], message: 'log_level: must be one of "debug", "info", "warn", "warning", "error"' },
];

async function file(text: string): Promise<string> {
  const path = join(await tempDir("credproxy-parity-"), "config.yaml");
  await writeFile(path, text);
  await chmod(path, 0o600);
  return path;
}

describe("validate reports every check start-up makes", () => {
  for (const c of CASES) {
    test(`${c.name}: validate and ${c.start.join(" ")} refuse it alike`, async () => {
      const path = await file(c.text);
      const env = { AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", ...c.env };
      const validated = await runCredproxy(["validate", ...(c.broker ? ["--broker"] : []), path], { env });
      const started = await runCredproxy([...c.start, "--config", path], { env, timeoutMs: 15_000 });
      expect({ code: validated.code, stderr: validated.stderr }).toEqual({ code: 1, stderr: expect.stringContaining(c.message) });
      expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 1, stderr: expect.stringContaining(c.message) });
    });
  }

  test("log_level: warning is accepted in broker.yaml, as --log-level warning is", async () => {
    const path = await file("log_level: warning\n");
    const validated = await runCredproxy(["validate", "--broker", path]);
    expect({ code: validated.code, stderr: validated.stderr }).toEqual({ code: 0, stderr: "" });
    expect(validated.stdout).toContain("log level: warn");
  });
});
