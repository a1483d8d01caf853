/**
 * Starts the compiled binary as `credproxy serve` on a config written for the test, on a
 * free loopback port, and waits for its "listening" log line (an event, not a sleep).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { spawnCredproxy, tempDir, type CredproxyProcess, type EnvOverrides } from "../helpers/binary.ts";
import { freePort } from "../helpers/ports.ts";

export interface RunningServe {
  proc: CredproxyProcess;
  port: number;
  dir: string;
  configPath: string;
  url(path: string): string;
  /** GET /v1/credentials with a token (or none). */
  credentials(token?: string): Promise<Response>;
}

export interface ServeFixtureOptions {
  env?: EnvOverrides;
  args?: string[];
  /** Extra files to write into the test directory before start, by relative name. */
  files?: Record<string, string>;
  /** Directories to create in the test directory before start (serve never creates one). */
  dirs?: string[];
}

/** `yaml` may use {{port}} and {{dir}}; they are filled in before the file is written. */
export async function startServe(yaml: string, options: ServeFixtureOptions = {}): Promise<RunningServe> {
  const dir = await tempDir("credproxy-e2e-");
  const port = await freePort();
  for (const name of options.dirs ?? []) await mkdir(join(dir, name), { recursive: true });
  for (const [name, content] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), content);
  const configPath = join(dir, "config.yaml");
  await writeFile(configPath, yaml.replaceAll("{{port}}", String(port)).replaceAll("{{dir}}", dir));
  const proc = await spawnCredproxy(["serve", "--config", configPath, ...(options.args ?? [])], { env: options.env ?? {}, cwd: dir });
  await proc.waitForLine(/credproxy serve listening/, 15_000);
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  return {
    proc,
    port,
    dir,
    configPath,
    url,
    credentials: (token) => fetch(url("/v1/credentials"), token === undefined ? {} : { headers: { authorization: token } }),
  };
}

/** A service block with static source keys, for configs built in tests. */
export function serviceYaml(name: string, token: string, roleArn: string, extra = ""): string {
  return [`  ${name}:`, `    auth_token: ${JSON.stringify(token)}`, "    assumed_role:", `      RoleArn: ${roleArn}`, extra].filter(Boolean).join("\n");
}

export function sourceYaml(stsEndpoint: string, accessKeyId: string, secretAccessKey: string): string {
  return [
    "aws_defaults:",
    "  region: us-east-1",
    `  sts_endpoint: ${stsEndpoint}`,
    "  iam_keys:",
    `    aws_access_key_id: ${accessKeyId}`,
    `    aws_secret_access_key: ${JSON.stringify(secretAccessKey)}`,
  ].join("\n");
}
