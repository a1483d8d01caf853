/**
 * `credproxy broker exec`, end to end: the compiled binary assumes a role on moto_server in
 * its signature-validating mode (through an sts-gate that counts AssumeRole calls), and real
 * SDK clients run as the wrapped command (boto3, the aws CLI, the JS v3 default chain) and
 * call sts:GetCallerIdentity on moto with what the endpoint served them.
 *
 * The broker's own source is the moto user's keys in credproxy's environment (the default
 * chain); the command must never see them. All traffic stays on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BINARY_PATH, runCredproxy, spawnCredproxy, tempDir, type EnvOverrides, type RunResult } from "../helpers/binary.ts";
import { commandFor, type ClientKind } from "../helpers/clients.ts";
import { startMoto, type ValidatingMoto } from "../helpers/moto.ts";
import { startStsGate, type Gate } from "../helpers/sts-gate.ts";

let moto: ValidatingMoto;
let gate: Gate;

beforeAll(async () => {
  moto = await startMoto({ validating: true, roles: ["role-a", "role-b", "role-c", "dev-x", "admin"] });
  gate = await startStsGate(moto.endpoint);
});

afterAll(async () => {
  await gate?.stop();
  await moto?.stop();
});

const assumed = (role: string) => `arn:aws:sts::123456789012:assumed-role/${role}/credproxy-broker`;

/** credproxy's environment: the moto user's keys as its source, STS (and the command's STS) at the gate. */
function brokerEnv(extra: EnvOverrides = {}): EnvOverrides {
  return {
    AWS_ACCESS_KEY_ID: moto.user.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.user.secretAccessKey,
    AWS_ENDPOINT_URL_STS: gate.endpoint,
    AWS_REGION: "us-east-1",
    ...extra,
  };
}

function execArgs(command: readonly string[], flags: readonly string[] = [], role = "role-a"): string[] {
  return ["broker", "exec", "--role-arn", moto.roleArn(role), ...flags, "--", ...command];
}

async function exec(command: readonly string[], options: { flags?: readonly string[]; env?: EnvOverrides; role?: string } = {}): Promise<RunResult> {
  return runCredproxy(execArgs(command, options.flags, options.role), { env: brokerEnv(options.env), timeoutMs: 45_000 });
}

function describeRun(r: RunResult): string {
  return `exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-3000)}`;
}

/** The caller-identity ARN a client printed: the aws CLI prints JSON, the scripts one JSON line last. */
function printedArn(client: ClientKind, stdout: string): { arn: string | undefined; method: string | undefined } {
  const text = stdout.trim();
  const data = JSON.parse(client === "aws-cli" ? text : (text.split("\n").pop() ?? "")) as Record<string, string>;
  return { arn: data.arn ?? data.Arn, method: data.method };
}

const PY_GET = `
import json, os, sys, urllib.request, urllib.error
BASE = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
TOKEN = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
def get(path, token=TOKEN, host=None):
    headers = {}
    if token is not None: headers["Authorization"] = token
    if host is not None: headers["Host"] = host
    try:
        r = urllib.request.urlopen(urllib.request.Request(BASE + path, headers=headers), timeout=10)
        return [r.status, json.load(r)]
    except urllib.error.HTTPError as e:
        return [e.code, json.load(e)]
`;

describe("credproxy broker exec with real SDK clients", () => {
  for (const client of ["boto3", "aws-cli", "js-sdk"] as const satisfies readonly ClientKind[]) {
    test(`${client} run as the command gets the --role-arn role from the endpoint`, async () => {
      const r = await exec(commandFor(client));
      expect(r.code, describeRun(r)).toBe(0);
      const id = printedArn(client, r.stdout);
      expect(id.arn).toBe(assumed("role-a"));
      if (client === "boto3") expect(id.method).toBe("container-role");
      if (client === "js-sdk") expect(id.method).toContain("CREDENTIALS_HTTP");
    });
  }

  test("the command's environment has the endpoint and token but none of the parent's keys or overriding variables", async () => {
    const removed = {
      AWS_SECURITY_TOKEN: "legacy-token-value",
      AWS_CREDENTIAL_EXPIRATION: "2099-01-01T00:00:00Z",
      AWS_DEFAULT_PROFILE: "parent-profile",
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/parent",
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "/nonexistent/token",
      AWS_WEB_IDENTITY_TOKEN_FILE: "/nonexistent/web-identity",
      AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/web-identity",
      AWS_ROLE_SESSION_NAME: "web-identity",
      AWS_CREDENTIAL_FILE: "/nonexistent/ec2-creds",
      AWS_ACCESS_KEY: "AKIAALTERNATIVE00001",
      AWS_SECRET_KEY: "alternative-secret",
    };
    const script = `import json, os, boto3\nprint(json.dumps(dict(os.environ)))\nprint(boto3.client("sts").get_caller_identity()["Arn"])`;
    const r = await exec(["python3", "-c", script], { env: removed });
    expect(r.code, describeRun(r)).toBe(0);
    const [envLine, arn] = r.stdout.trim().split("\n");
    const env = JSON.parse(envLine!) as Record<string, string>;
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", ...Object.keys(removed)]) {
      expect(env).not.toHaveProperty(name);
    }
    expect(Object.values(env)).not.toContain(moto.user.secretAccessKey);
    expect(Object.values(env)).not.toContain(moto.user.accessKeyId);
    expect(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(env.AWS_CONTAINER_AUTHORIZATION_TOKEN).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(env.AWS_CONTAINER_AUTHORIZATION_TOKEN!, "base64url").length * 8).toBeGreaterThanOrEqual(256);
    expect(env.AWS_REGION).toBe("us-east-1");
    expect(env.AWS_DEFAULT_REGION).toBe("us-east-1");
    expect(env.AWS_ENDPOINT_URL_STS).toBe(gate.endpoint);
    expect(arn).toBe(assumed("role-a"));
  });

  test("a command and all the processes it starts share one endpoint: one AssumeRole call in total", async () => {
    const before = gate.assumeRoleCalls;
    const [py, , pyScript] = commandFor("boto3");
    const [node, jsScript] = commandFor("js-sdk");
    const script = `aws sts get-caller-identity --query Arn --output text && aws sts get-caller-identity --query Arn --output text && ${py} -c "$1" && ${node} "$2"`;
    const r = await exec(["sh", "-c", script, "sh", pyScript!, jsScript!]);
    expect(r.code, describeRun(r)).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, 2)).toEqual([assumed("role-a"), assumed("role-a")]);
    expect(printedArn("boto3", lines[2]!).arn).toBe(assumed("role-a"));
    expect(printedArn("js-sdk", lines[3]!).arn).toBe(assumed("role-a"));
    expect(gate.assumeRoleCalls - before).toBe(1);
  }, 60_000); // four SDK clients, one after the other: ~3 s on a quiet machine, more under load
});

describe("credproxy broker exec process handling", () => {
  test("mirrors the command's exit code, and 128 + N when signal N ended it", async () => {
    expect((await exec(["sh", "-c", "exit 7"])).code).toBe(7);
    expect((await exec(["sh", "-c", "kill -KILL $$"])).code).toBe(137);
  });

  test("SIGTERM to credproxy is forwarded to the command, which exits 0, and so does credproxy", async () => {
    const proc = spawnCredproxy(execArgs(["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done"]), { env: brokerEnv() });
    await proc.waitForLine(/^ready$/, 20_000, "stdout");
    const status = await proc.kill("SIGTERM");
    expect(status, proc.tail()).toEqual({ code: 0, signal: null });
    expect(proc.stdoutLines).toContain("got-term");
  });

  test("a command that SIGTERM ends makes credproxy exit 143", async () => {
    const proc = spawnCredproxy(execArgs(["sh", "-c", "echo ready; exec sleep 30"]), { env: brokerEnv() });
    await proc.waitForLine(/^ready$/, 20_000, "stdout");
    expect(await proc.kill("SIGTERM")).toEqual({ code: 143, signal: null });
  });

  test("SIGINT is forwarded when no terminal delivered it (a new session, as under a supervisor)", async () => {
    // setsid: no controlling terminal, so whatever terminal runs the tests cannot deliver it too.
    const proc = spawnCredproxy([BINARY_PATH, ...execArgs(["sh", "-c", "trap 'echo got-int; exit 3' INT; echo ready; while :; do sleep 0.05; done"])], {
      env: brokerEnv(),
      binary: "setsid",
    });
    await proc.waitForLine(/^ready$/, 20_000, "stdout");
    expect(await proc.kill("SIGINT")).toEqual({ code: 3, signal: null });
    expect(proc.stdoutLines).toContain("got-int");
  });

  test("fails fast with the core's error, and never starts the command, when the role cannot be assumed", async () => {
    const marker = join(await tempDir(), "started");
    gate.accessDenied = true; // STS answers AssumeRole with 403 AccessDenied
    let r: RunResult;
    try {
      r = await exec(["touch", marker]);
    } finally {
      gate.accessDenied = false;
    }
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toContain("error[E_ASSUME_ROLE]");
    expect(r.stderr).toContain("AccessDenied");
    expect(existsSync(marker)).toBe(false);
    // Said once, of the role (not of a "service 'broker'"), and with no retry time for a process that is exiting.
    expect(r.stderr.match(/AccessDenied/g)).toHaveLength(1);
    expect(r.stderr).toContain(`Cannot get credentials for role ${moto.roleArn("role-a")}`);
    expect(r.stderr).not.toContain("service 'broker'");
    expect(r.stderr).not.toContain("retryAt");
  });

  test("with no source credentials at all, the hint speaks of the broker's flags, not of a container or a config file", async () => {
    const r = await runCredproxy(execArgs(["true"]), { env: { AWS_REGION: "us-east-1" } });
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toContain("error[E_SOURCE_CREDENTIALS]");
    expect(r.stderr).toContain("--profile");
    expect(r.stderr).not.toContain("container");
    expect(r.stderr).not.toContain("source_credentials");
  });

  test("usage errors exit 2 before anything starts; an unknown command exits 127", async () => {
    const missing = await runCredproxy(["broker", "exec", "--role-arn", moto.roleArn("role-a")], { env: brokerEnv() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing the command to run");
    const emptyRole = await runCredproxy(["broker", "exec", "--role-arn", "", "--", "true"], { env: brokerEnv() });
    expect(emptyRole.code).toBe(2);
    expect(emptyRole.stderr).toContain("--role-arn is empty");
    const badDuration = await runCredproxy(execArgs(["true"], ["--duration", "60"]), { env: brokerEnv() });
    expect(badDuration.code).toBe(2);
    const notFound = await exec(["credproxy-no-such-command-xyz"]);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toContain("not found");
  });

  test("stdin, stdout and stderr are the command's own", async () => {
    const r = await runCredproxy(execArgs(["sh", "-c", "cat; echo to-stderr >&2"]), { env: brokerEnv(), stdin: "from-stdin\n" });
    expect(r).toMatchObject({ code: 0, stdout: "from-stdin\n", stderr: "to-stderr\n" });
  });

  test("credproxy writes nothing of its own to the command's stdout or, at the default level, stderr", async () => {
    const r = await exec(["sh", "-c", "echo out"]);
    expect(r).toMatchObject({ code: 0, stdout: "out\n", stderr: "" });
  });
});

describe("credproxy broker exec endpoint", () => {
  test("/role-arn/ serves an allow-listed role and refuses (403) others, through the live endpoint", async () => {
    const script = `${PY_GET}
print(json.dumps({"allowed": get("role-arn/${moto.roleArn("role-b")}"), "refused": get("role-arn/${moto.roleArn("role-c")}")}))`;
    const r = await exec(["python3", "-c", script], { flags: ["--allow-role", "arn:aws:iam::123456789012:role/role-b"] });
    expect(r.code, describeRun(r)).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, [number, Record<string, string>]>;
    expect(out.allowed![0]).toBe(200);
    expect(out.allowed![1].RoleArn).toBe(moto.roleArn("role-b"));
    expect(out.allowed![1].AccessKeyId).toMatch(/^ASIA/);
    expect(out.refused![0]).toBe(403);
    expect(out.refused![1].Code).toBe("AccessDenied");
  });

  test("--allow-role role/dev-* admits role/dev-x but no encoded path trick, and refuses those before any STS call", async () => {
    const account = "arn:aws:iam::123456789012:";
    const tricks = [
      "role/dev-x%2F..%2Fadmin",
      "role/dev-x%2f..%2fadmin",
      "role%2Fdev-x%252F..%252Fadmin",
      "role/dev-x%2Fadmin",
      "role/dev-x/../admin",
      "role/dev-x/%2E%2E/admin",
      "role/team/dev-x",
    ];
    const script = `${PY_GET}
tricks = ${JSON.stringify(tricks)}
print(json.dumps({"allowed": get("role-arn/${account}role/dev-x")[0], "tricks": {t: get("role-arn/${account}" + t)[0] for t in tricks}}))`;
    const before = gate.calls.length;
    const r = await exec(["python3", "-c", script], { flags: ["--allow-role", `${account}role/dev-*`] });
    expect(r.code, describeRun(r)).toBe(0);
    const out = JSON.parse(r.stdout) as { allowed: number; tricks: Record<string, number> };
    expect(out.allowed).toBe(200);
    expect(out.tricks).toEqual(Object.fromEntries(tricks.map((t) => [t, 403])));
    const assumed = gate.calls.slice(before).map((c) => c.roleArn);
    expect(assumed.filter((arn) => arn !== moto.roleArn("role-a") && arn !== moto.roleArn("dev-x"))).toEqual([]);
  });

  test("an SDK pointed at /role-arn/<allowed ARN> runs as that role", async () => {
    const arnB = moto.roleArn("role-b");
    const script = `AWS_CONTAINER_CREDENTIALS_FULL_URI="\${AWS_CONTAINER_CREDENTIALS_FULL_URI}role-arn/${arnB}" aws sts get-caller-identity --query Arn --output text`;
    const r = await exec(["sh", "-c", script], { flags: ["--allow-role", "arn:aws:iam::123456789012:role/role-*"] });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout.trim()).toBe(assumed("role-b"));
  });

  test("every route needs the token, the Host must be the loopback address, and only GET is allowed", async () => {
    const script = `${PY_GET}
port = BASE.split(":")[2].rstrip("/")
req = urllib.request.Request(BASE, headers={"Authorization": TOKEN}, method="POST", data=b"")
try:
    post = urllib.request.urlopen(req).status
except urllib.error.HTTPError as e:
    post = e.code
print(json.dumps({
    "root": get("")[0], "noToken": get("", None)[0], "badToken": get("", "x" * 43)[0],
    "roleArnNoToken": get("role-arn/${moto.roleArn("role-b")}", None)[0],
    "evilHost": get("", host="evil.example:" + port)[0], "localhost": get("", host="localhost:" + port)[0],
    "post": post}))`;
    const r = await exec(["python3", "-c", script], { flags: ["--allow-role", "*"] });
    expect(r.code, describeRun(r)).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ root: 200, noToken: 403, badToken: 403, roleArnNoToken: 403, evilHost: 403, localhost: 200, post: 405 });
  });

  test("no token or secret appears in credproxy's stderr, even at debug level", async () => {
    const script = `${PY_GET}
ok = get("")
get("", "wrong-token-value-0123456789")
get("", host="evil.example")
get("role-arn/${moto.roleArn("role-c")}")
print(json.dumps({"token": TOKEN, "secret": ok[1]["SecretAccessKey"], "session": ok[1]["Token"]}))`;
    const r = await exec(["python3", "-c", script], { flags: ["--log-level", "debug", "--log-format", "json"] });
    expect(r.code, describeRun(r)).toBe(0);
    const printed = JSON.parse(r.stdout) as { token: string; secret: string; session: string };
    const lines = r.stderr.split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThan(3);
    for (const secret of [printed.token, printed.secret, printed.session, "wrong-token-value-0123456789", moto.user.secretAccessKey]) {
      expect(r.stderr).not.toContain(secret);
    }
    for (const line of lines) expect(Object.keys(JSON.parse(line) as object).slice(0, 3)).toEqual(["level", "time", "msg"]);
    // Role ARNs are logged on purpose.
    expect(r.stderr).toContain(moto.roleArn("role-c"));
  });
});

describe("credproxy broker exec and ~/.aws (the shadowing gap)", () => {
  async function homeWithDefaultKeys(): Promise<string> {
    const home = await tempDir("credproxy-home-");
    await mkdir(join(home, ".aws"));
    await writeFile(join(home, ".aws", "credentials"), "[default]\naws_access_key_id = AKIAUNRELATED0000001\naws_secret_access_key = unrelated-secret\n");
    return home;
  }

  test("[default] keys in ~/.aws/credentials outrank the endpoint for the aws CLI: credproxy warns, naming the file", async () => {
    const home = await homeWithDefaultKeys();
    const r = await exec(["aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text"], { env: { HOME: home, AWS_SHARED_CREDENTIALS_FILE: undefined } });
    expect(r.stderr).toContain(`credproxy: `);
    expect(r.stderr).toContain(join(home, ".aws", "credentials"));
    expect(r.stderr).toContain("--isolate-shared-files");
    // The CLI really used the file's keys (which moto does not know), not the endpoint.
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain(assumed("role-a"));
  });

  test("--isolate-shared-files hides them: no warning, and the command runs as the role", async () => {
    const home = await homeWithDefaultKeys();
    const r = await exec(["aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text"], {
      env: { HOME: home, AWS_SHARED_CREDENTIALS_FILE: undefined },
      flags: ["--isolate-shared-files"],
    });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout.trim()).toBe(assumed("role-a"));
    expect(r.stderr).toBe("");
  });
});
