/**
 * The broker config file (~/.config/credproxy/broker.yaml), end to end with the compiled binary:
 * `broker serve` and `broker credential-process` take the role, the /role-arn/ allow-list and
 * the socket from it with no flags at all, boto3 proves the credentials against moto in
 * signature-validating mode, a flag still wins over the file, and a file other users could
 * have written, or with a mistake in it, stops the broker before anything is bound.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY_PATH, cleanEnv, runCredproxy, spawnCredproxy, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { commandFor } from "../helpers/clients.ts";
import { trackChild } from "../helpers/cleanup.ts";
import { startMoto, type ValidatingMoto } from "../helpers/moto.ts";
import { withTimeout } from "../helpers/wait.ts";

let moto: ValidatingMoto;

beforeAll(async () => {
  moto = await startMoto({ validating: true, roles: ["role-a", "role-b"] });
});

afterAll(async () => {
  await moto?.stop();
});

/** A home directory whose ~/.config/credproxy/broker.yaml holds `lines`, mode 0600. */
async function homeWithConfig(lines: string[], mode = 0o600): Promise<{ home: string; file: string }> {
  const home = await tempDir("credproxy-bcfg-home-");
  const dir = join(home, ".config", "credproxy");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, "broker.yaml");
  writeFileSync(file, lines.join("\n") + "\n");
  chmodSync(file, mode);
  return { home, file };
}

function sourceEnv(home: string): Record<string, string | undefined> {
  return {
    HOME: home,
    AWS_ACCESS_KEY_ID: moto.user.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.user.secretAccessKey,
    AWS_ENDPOINT_URL_STS: moto.endpoint,
    AWS_REGION: "us-east-1",
  };
}

describe("broker serve and credential-process with a broker config file", () => {
  let home: string;
  let broker: CredproxyProcess;
  let socket: string;

  beforeAll(async () => {
    ({ home } = await homeWithConfig([
      "# the settings every broker command would otherwise take as flags",
      `role_arn: ${moto.roleArn("role-a")}`,
      "allow_roles:",
      `  - ${moto.roleArn("role-b")}`,
      "socket:",
      "  path: run/broker.sock",
      "log_level: debug",
    ]));
    mkdirSync(join(home, ".config", "credproxy", "run"), { mode: 0o700 });
    broker = spawnCredproxy(["broker", "serve"], { env: sourceEnv(home) });
    const record = await broker.waitForLog((r) => r.msg === "credproxy broker serve listening", 15_000);
    socket = String(record.socket);
  });

  afterAll(async () => {
    await broker?.kill();
  });

  async function boto3Arn(credentialProcessArgs: string): Promise<string> {
    const awsConfig = join(home, "aws-config");
    writeFileSync(awsConfig, `[default]\ncredential_process = ${BINARY_PATH} broker credential-process${credentialProcessArgs}\n`);
    const env = cleanEnv({ HOME: home, AWS_CONFIG_FILE: awsConfig, AWS_ENDPOINT_URL_STS: moto.endpoint, AWS_REGION: "us-east-1", AWS_DEFAULT_REGION: "us-east-1" });
    const proc = Bun.spawn(commandFor("boto3"), { env, cwd: home, stdout: "pipe", stderr: "pipe" });
    trackChild(proc);
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), withTimeout(proc.exited, 60_000, "boto3")]);
    if (proc.exitCode !== 0) throw new Error(`boto3 exited ${proc.exitCode}\n${out}\n${err.slice(-3000)}`);
    const data = JSON.parse(out.trim().split("\n").pop() ?? "{}") as { arn?: string; method?: string };
    expect(data.method).toBe("custom-process");
    return data.arn ?? "";
  }

  test("the broker listens on the socket the file names, relative to the file", () => {
    expect(socket).toBe(join(home, ".config", "credproxy", "run", "broker.sock"));
    expect(existsSync(socket)).toBe(true);
  });

  test("boto3 gets the file's role through credential-process, which finds the socket in the same file", async () => {
    expect(await boto3Arn("")).toBe("arn:aws:sts::123456789012:assumed-role/role-a/credproxy-broker");
  });

  test("a role in the file's allow_roles is served at /role-arn/", async () => {
    expect(await boto3Arn(` --role-arn ${moto.roleArn("role-b")}`)).toBe("arn:aws:sts::123456789012:assumed-role/role-b/credproxy-broker");
  });

  test("a role outside allow_roles is refused with 403", async () => {
    const run = await runCredproxy(["broker", "credential-process", "--role-arn", "arn:aws:iam::123456789012:role/role-c"], { env: { HOME: home } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("answered 403: AccessDenied");
  });

  test("a flag still wins: --allow-role on the command line replaces the file's list", async () => {
    const other = join(await tempDir("credproxy-bcfg-sock-"), "b.sock");
    const second = spawnCredproxy(["broker", "serve", "--socket", other, "--allow-role", moto.roleArn("role-a")], { env: sourceEnv(home) });
    try {
      const record = await second.waitForLog((r) => r.msg === "credproxy broker serve listening", 15_000);
      expect(record.allow_roles).toEqual([moto.roleArn("role-a")]);
      const refused = await runCredproxy(["broker", "credential-process", "--socket", other, "--role-arn", moto.roleArn("role-b")], { env: { HOME: home } });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("answered 403");
    } finally {
      await second.kill();
    }
  });
});

describe("a broker config file the broker will not use", () => {
  test("one that other users may write is refused before any socket is bound", async () => {
    const { home, file } = await homeWithConfig(["socket: {path: broker.sock}"], 0o666);
    const run = await runCredproxy(["broker", "serve"], { env: sourceEnv(home) });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Cannot use broker config ${file} as other users may write to it (mode 0666)`);
    expect(run.stderr).toContain(`chmod go-w ${file}`);
    expect(existsSync(join(file, "..", "broker.sock"))).toBe(false);
  });

  test("one with a mistake names the line and key, for exec too, and runs nothing", async () => {
    const { home, file } = await homeWithConfig(["alow_roles: ['*']", "duration_seconds: 60"]);
    const marker = join(home, "ran");
    const run = await runCredproxy(["broker", "exec", "--", "touch", marker], { env: sourceEnv(home) });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}:1:1: alow_roles: unknown key; did you mean "allow_roles"?`);
    expect(run.stderr).toContain(`${file}:2:19: duration_seconds: must be from 900 to 43200`);
    expect(existsSync(marker)).toBe(false);
  });

  test("a named one that does not exist is an error, not an empty config", async () => {
    const home = await tempDir("credproxy-bcfg-home-");
    const run = await runCredproxy(["broker", "imds", "--config", join(home, "nope.yaml")], { env: sourceEnv(home) });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Cannot read broker config ${join(home, "nope.yaml")} as it does not exist`);
  });
});

describe("credproxy validate --broker", () => {
  test("describes a valid broker config and exits 0", async () => {
    const { home, file } = await homeWithConfig([`role_arn: ${moto.roleArn("role-a")}`, "allow_roles: ['arn:aws:iam::123456789012:role/dev-*']", "imds: {v1: false}"]);
    const run = await runCredproxy(["validate", "--broker"], { env: { HOME: home } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${file}: valid (broker config)`);
    expect(run.stdout).toContain(`role: ${moto.roleArn("role-a")}`);
    expect(run.stdout).toContain("roles /role-arn/ may assume: arn:aws:iam::123456789012:role/dev-*");
    expect(run.stdout).toContain("IMDSv1: false");
  });

  test("prints the broker config's own JSON Schema", async () => {
    const run = await runCredproxy(["validate", "--broker", "--print-schema"]);
    expect(run.code).toBe(0);
    const schema = JSON.parse(run.stdout) as { title: string; properties: Record<string, unknown> };
    expect(schema.title).toBe("credproxy broker config");
    expect(Object.keys(schema.properties)).toContain("allow_roles");
  });
});
