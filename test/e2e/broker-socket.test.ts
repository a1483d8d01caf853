/**
 * `credproxy broker serve` and `broker credential-process`, end to end with the compiled
 * binary: the socket's file rules (mode 0600 from the start, a private directory, stale files,
 * removal on exit), the SO_PEERCRED check against a real second user (uid 65534 through
 * setpriv; root bypasses file modes, so only a non-root client exercises them), and real SDK
 * clients (boto3, the aws CLI, the JS SDK default chain) reading credential_process from an
 * ~/.aws/config, with moto in signature-validating mode as STS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY_PATH, cleanEnv, runCredproxy, spawnCredproxy, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { commandFor, type ClientKind } from "../helpers/clients.ts";
import { trackChild } from "../helpers/cleanup.ts";
import { startMoto, type ValidatingMoto } from "../helpers/moto.ts";
import { withTimeout } from "../helpers/wait.ts";

const NOBODY = 65534;
const PYTHON = "/usr/bin/python3"; // readable by uid 65534, unlike a pyenv shim under /root
const isRoot = process.getuid?.() === 0;

let moto: ValidatingMoto;
/** Every broker started here, so the secret check can read all their logs. */
const brokers: CredproxyProcess[] = [];
/** Credentials handed out during the run, for the secret check. */
const served: { SecretAccessKey: string; SessionToken: string }[] = [];

beforeAll(async () => {
  moto = await startMoto({ validating: true, roles: ["role-a", "role-b"] });
});

afterAll(async () => {
  for (const b of brokers) await b.kill("SIGKILL").catch(() => undefined);
  await moto?.stop();
});

function brokerEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    AWS_ACCESS_KEY_ID: moto.user.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.user.secretAccessKey,
    AWS_ENDPOINT_URL_STS: moto.endpoint,
    AWS_REGION: "us-east-1",
    ...extra,
  };
}

async function socketPath(): Promise<string> {
  return join(await tempDir("credproxy-bsock-"), "broker.sock");
}

/** Starts `broker serve` and resolves once it has logged that it is listening. */
async function startBroker(socket: string | undefined, args: string[] = [], env: Record<string, string | undefined> = {}): Promise<CredproxyProcess & { socket: string }> {
  const proc = spawnCredproxy(
    ["broker", "serve", ...(socket ? ["--socket", socket] : []), "--role-arn", moto.roleArn("role-a"), "--log-level", "debug", ...args],
    { env: brokerEnv(env) },
  );
  brokers.push(proc);
  const record = await proc.waitForLog((r) => r.msg === "credproxy broker serve listening", 15_000);
  return Object.assign(proc, { socket: String(record.socket) });
}

async function credentialProcess(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  const proc = spawnCredproxy(["broker", "credential-process", ...args], { env });
  const status = await withTimeout(proc.exited, 30_000, "credential-process to finish");
  return { code: status.code, stdout: proc.stdoutLines.join("\n"), stderr: proc.stderrLines.join("\n"), pid: proc.pid };
}

/** Connects as `uid` (through setpriv when given) and sends one GET; the script reports its pid. */
const CLIENT_SCRIPT = `
import errno, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
out = {"pid": os.getpid(), "uid": os.getuid()}
try:
    s.connect(sys.argv[1])
except OSError as e:
    out["error"] = errno.errorcode.get(e.errno, str(e.errno))
    print(json.dumps(out)); sys.exit(0)
s.sendall(b"GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
head, _, body = data.partition(b"\\r\\n\\r\\n")
out["status"] = int(head.split(b" ")[1])
out["body"] = json.loads(body)
print(json.dumps(out))
`;

interface RawClientResult {
  pid: number;
  uid: number;
  error?: string;
  status?: number;
  body?: Record<string, string>;
}

async function rawClient(socket: string, asUid?: number): Promise<RawClientResult> {
  const python = [PYTHON, "-c", CLIENT_SCRIPT, socket];
  const argv = asUid === undefined ? python : ["setpriv", `--reuid=${asUid}`, `--regid=${asUid}`, "--clear-groups", ...python];
  const proc = Bun.spawn(argv, { cwd: "/", env: { PATH: "/usr/bin:/bin" }, stdout: "pipe", stderr: "pipe" });
  trackChild(proc);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (proc.exitCode !== 0) throw new Error(`client exited ${proc.exitCode}: ${err}`);
  return JSON.parse(out) as RawClientResult;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

describe("broker serve: the socket file", () => {
  test("is mode 0600, in a 0700 directory, the moment the broker says it is listening", async () => {
    const broker = await startBroker(undefined, [], { XDG_RUNTIME_DIR: await tempDir("credproxy-xdg-") });
    const socket = lstatSync(broker.socket);
    const dir = lstatSync(join(broker.socket, ".."));
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o600);
    expect(dir.mode & 0o777).toBe(0o700);
    expect(broker.socket).toEndWith("/credproxy/broker.sock");
    await broker.kill();
  });

  test("without $XDG_RUNTIME_DIR it goes in <tmpdir>/credproxy-<uid>, which credential-process finds too", async () => {
    const tmp = await tempDir("credproxy-tmpdir-");
    const env = { XDG_RUNTIME_DIR: undefined, TMPDIR: tmp };
    const broker = await startBroker(undefined, [], env);
    expect(broker.socket).toBe(join(tmp, `credproxy-${process.getuid!()}`, "broker.sock"));
    expect(lstatSync(join(tmp, `credproxy-${process.getuid!()}`)).mode & 0o777).toBe(0o700);
    const run = await credentialProcess([], env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ Version: 1 });
    await broker.kill();
  });

  test("is removed on SIGTERM and on SIGINT, with exit 0", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const broker = await startBroker(await socketPath());
      expect(existsSync(broker.socket)).toBe(true);
      expect(await broker.kill(signal)).toEqual({ code: 0, signal: null });
      expect(existsSync(broker.socket)).toBe(false);
    }
  });

  test("a regular file at the path is never deleted: the broker refuses to start", async () => {
    const path = await socketPath();
    writeFileSync(path, "precious data");
    const run = await runCredproxy(["broker", "serve", "--socket", path, "--role-arn", moto.roleArn("role-a")], { env: brokerEnv() });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error[E_LISTEN]");
    expect(run.stderr).toContain("it is a regular file, not a socket; it was left untouched");
    expect(readFileSync(path, "utf8")).toBe("precious data");
  });

  test("a symlink at the path is never followed or deleted", async () => {
    const path = await socketPath();
    const target = join(path, "..", "target");
    writeFileSync(target, "target data");
    symlinkSync(target, path);
    const run = await runCredproxy(["broker", "serve", "--socket", path, "--role-arn", moto.roleArn("role-a")], { env: brokerEnv() });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("it is a symbolic link, not a socket");
    expect(readlinkSync(path)).toBe(target);
    expect(readFileSync(target, "utf8")).toBe("target data");
  });

  test("an existing socket directory open to group or others is refused, not fixed", async () => {
    const dir = join(await tempDir("credproxy-bsock-"), "shared");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const run = await runCredproxy(["broker", "serve", "--socket", join(dir, "broker.sock"), "--role-arn", moto.roleArn("role-a")], { env: brokerEnv() });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("is open to group or others (mode 0755)");
    expect(lstatSync(dir).mode & 0o777).toBe(0o755);
    expect(existsSync(join(dir, "broker.sock"))).toBe(false);
  });

  test("a dead socket left by a killed broker is replaced; a live one is refused", async () => {
    const path = await socketPath();
    const first = await startBroker(path);
    await first.kill("SIGKILL");
    expect(lstatSync(path).isSocket()).toBe(true); // left behind

    const second = await startBroker(path);
    expect(second.logRecords().some((r) => r.msg === "removed a dead socket left by an earlier broker")).toBe(true);

    const third = await runCredproxy(["broker", "serve", "--socket", path, "--role-arn", moto.roleArn("role-a")], { env: brokerEnv() });
    expect(third.code).toBe(1);
    expect(third.stderr).toContain("another process is listening on it");
    expect((await credentialProcess(["--socket", path])).code).toBe(0); // the second still serves
    await second.kill();
  });
});

describe("broker serve: who may connect", () => {
  test("a same-uid client is served, and the broker logs the pid SO_PEERCRED reported", async () => {
    const broker = await startBroker(await socketPath());
    const run = await credentialProcess(["--socket", broker.socket]);
    expect(run.code).toBe(0);
    const creds = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(creds)).toEqual(["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]);
    expect(creds.Version).toBe(1);
    expect(creds.AccessKeyId).toMatch(/^ASIA/);
    expect(creds.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    served.push(creds as { SecretAccessKey: string; SessionToken: string });
    const accepted = await broker.waitForLog((r) => r.msg === "accepted a connection" && r.pid === run.pid);
    expect(accepted).toMatchObject({ uid: process.getuid!() });
    await broker.kill();
  });

  test.skipIf(!isRoot)("uid 65534 cannot even connect while the directory and socket keep their modes", async () => {
    const broker = await startBroker(await socketPath());
    expect((await rawClient(broker.socket, NOBODY)).error).toBe("EACCES"); // the 0700 directory
    chmodSync(join(broker.socket, ".."), 0o711);
    expect((await rawClient(broker.socket, NOBODY)).error).toBe("EACCES"); // now the 0600 socket itself
    expect((await rawClient(broker.socket)).status).toBe(200); // root (our uid) still gets in
    await broker.kill();
  });

  test.skipIf(!isRoot)("with the modes opened up, SO_PEERCRED still refuses uid 65534: 403 JSON, and a log line with its uid and pid", async () => {
    const broker = await startBroker(await socketPath());
    chmodSync(join(broker.socket, ".."), 0o711);
    chmodSync(broker.socket, 0o666);
    const result = await rawClient(broker.socket, NOBODY);
    expect(result.uid).toBe(NOBODY);
    expect(result.status).toBe(403);
    expect(result.body).toMatchObject({ Code: "AccessDenied" });
    expect(result.body?.Message).toContain(`uid ${NOBODY} is not allowed`);
    expect(JSON.stringify(result.body)).not.toContain("AccessKeyId");
    const refusal = await broker.waitForLog((r) => r.msg === "refused a connection");
    expect(refusal).toMatchObject({ level: "warn", uid: NOBODY, gid: NOBODY, pid: result.pid });
    await broker.kill();
  });

  test.skipIf(!isRoot)("--allow-uid 65534 admits a real uid-65534 client and, replacing the default, refuses the broker's own uid", async () => {
    const broker = await startBroker(await socketPath(), ["--allow-uid", String(NOBODY)]);
    chmodSync(join(broker.socket, ".."), 0o711);
    chmodSync(broker.socket, 0o666);
    const nobody = await rawClient(broker.socket, NOBODY);
    expect(nobody.status).toBe(200);
    expect(nobody.body?.AccessKeyId).toMatch(/^ASIA/);
    served.push({ SecretAccessKey: nobody.body!.SecretAccessKey!, SessionToken: nobody.body!.Token! });
    expect((await rawClient(broker.socket)).status).toBe(403);
    await broker.kill();
  });

  test("--allow-exe serves only processes running that program", async () => {
    const broker = await startBroker(await socketPath(), ["--allow-exe", PYTHON]);
    expect((await rawClient(broker.socket)).status).toBe(200); // python3, same uid
    const denied = await credentialProcess(["--socket", broker.socket]); // credproxy itself
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("answered 403");
    expect(denied.stderr).toContain(`executable ${BINARY_PATH} is not allowed`);
    await broker.kill();
  });

  test("--allow-descendants-of serves the processes a given process started, and no others", async () => {
    // The client is a child of this test runner: inside the runner's tree, outside sleep's.
    const ours = await startBroker(await socketPath(), ["--allow-descendants-of", String(process.pid)]);
    expect((await rawClient(ours.socket)).status).toBe(200);
    await ours.kill();

    const sleeper = Bun.spawn(["sleep", "60"], { stdout: "ignore", stderr: "ignore" });
    trackChild(sleeper);
    const theirs = await startBroker(await socketPath(), ["--allow-descendants-of", String(sleeper.pid)]);
    const refused = await rawClient(theirs.socket);
    expect(refused.status).toBe(403);
    const log = await theirs.waitForLog((r) => r.msg === "refused a connection", 5_000);
    expect(String(log.reason)).toBe(`pid ${refused.pid} is not process ${sleeper.pid} or one of its descendants`);
    await theirs.kill();
    sleeper.kill();
  });

  test("--allow-descendants-of a process that does not exist is a usage error", async () => {
    const run = await runCredproxy(["broker", "serve", "--socket", await socketPath(), "--allow-descendants-of", "999999999"], { env: brokerEnv() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--allow-descendants-of 999999999: no such process");
  });
});

describe("credential_process with real SDK clients", () => {
  let broker: CredproxyProcess & { socket: string };
  let configFile: string;

  beforeAll(async () => {
    broker = await startBroker(await socketPath(), ["--allow-role", moto.roleArn("role-b")]);
    const dir = await tempDir("credproxy-awscfg-");
    configFile = join(dir, "config");
    writeFileSync(
      configFile,
      [
        "[default]",
        `credential_process = ${BINARY_PATH} broker credential-process --socket ${broker.socket}`,
        "",
        "[profile b]",
        `credential_process = ${BINARY_PATH} broker credential-process --socket ${broker.socket} --role-arn ${moto.roleArn("role-b")}`,
        "",
      ].join("\n"),
    );
  });

  afterAll(async () => {
    await broker?.kill();
  });

  async function callerArn(client: ClientKind, profile?: string): Promise<string> {
    const env = cleanEnv({
      AWS_CONFIG_FILE: configFile,
      AWS_ENDPOINT_URL_STS: moto.endpoint,
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      ...(profile ? { AWS_PROFILE: profile } : {}),
    });
    for (const name of Object.keys(env)) expect(name).not.toStartWith("AWS_CONTAINER_");
    const proc = Bun.spawn(commandFor(client), { env, cwd: env.HOME!, stdout: "pipe", stderr: "pipe" });
    trackChild(proc);
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), withTimeout(proc.exited, 60_000, `${client}`)]);
    if (proc.exitCode !== 0) throw new Error(`${client} exited ${proc.exitCode}\n${out}\n${err.slice(-3000)}`);
    if (client === "aws-cli") expect(err).toContain("Looking for credentials via: custom-process");
    const text = client === "aws-cli" ? out : (out.trim().split("\n").pop() ?? "");
    const data = JSON.parse(text) as { arn?: string; Arn?: string; method?: string };
    if (client === "boto3") expect(data.method).toBe("custom-process");
    return data.arn ?? data.Arn ?? "";
  }

  for (const client of ["boto3", "aws-cli", "js-sdk"] as const) {
    test(`${client} gets the broker's role through credential_process in ~/.aws/config`, async () => {
      expect(await callerArn(client)).toBe("arn:aws:sts::123456789012:assumed-role/role-a/credproxy-broker");
    });

    test(`${client} gets an allow-listed role through credential-process --role-arn`, async () => {
      expect(await callerArn(client, "b")).toBe("arn:aws:sts::123456789012:assumed-role/role-b/credproxy-broker");
    });
  }

  test("a role outside --allow-role gives exit 1 and one stderr line", async () => {
    const run = await credentialProcess(["--socket", broker.socket, "--role-arn", "arn:aws:iam::123456789012:role/role-c"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("answered 403: AccessDenied: role arn:aws:iam::123456789012:role/role-c is not in the broker's allow-list");
  });

  test("latency: credential_process round trip over 50 runs, and 1000 requests with fetch({ unix })", async () => {
    const runs: number[] = [];
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      const proc = Bun.spawn([BINARY_PATH, "broker", "credential-process", "--socket", broker.socket], { env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
      const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      runs.push(performance.now() - started);
      expect(proc.exitCode).toBe(0);
      if (i === 0) served.push(JSON.parse(out) as { SecretAccessKey: string; SessionToken: string });
    }
    const requests: number[] = [];
    for (let i = 0; i < 1020; i++) {
      const started = performance.now();
      const res = await fetch("http://localhost/", { unix: broker.socket });
      await res.arrayBuffer();
      if (i >= 20) requests.push(performance.now() - started); // the first 20 warm up
      expect(res.status).toBe(200);
    }
    runs.sort((a, b) => a - b);
    requests.sort((a, b) => a - b);
    const fmt = (n: number) => `${n.toFixed(2)} ms`;
    console.log(
      `broker socket latency: credential_process (binary, ${runs.length} runs) p50 ${fmt(percentile(runs, 0.5))} p99 ${fmt(percentile(runs, 0.99))}; ` +
        `fetch({ unix }) (${requests.length} requests, keep-alive) p50 ${fmt(percentile(requests, 0.5))} p99 ${fmt(percentile(requests, 0.99))}`,
    );
    expect(percentile(requests, 0.5)).toBeLessThan(20);
    expect(percentile(runs, 0.5)).toBeLessThan(2000);
  });
});

describe("logs", () => {
  test("no token or secret appears in any broker log line, at debug level", async () => {
    const secrets = [moto.user.secretAccessKey, ...served.flatMap((c) => [c.SecretAccessKey, c.SessionToken])];
    expect(served.length).toBeGreaterThan(0);
    const lines = brokers.flatMap((b) => b.stderrLines).filter(Boolean);
    const logs = lines.join("\n");
    expect(logs).toContain('"level":"debug"');
    expect(logs).toContain('"msg":"request"');
    for (const secret of secrets) expect(logs).not.toContain(secret);
    // Every line is a JSON record with level, time and msg.
    for (const line of lines) expect(Object.keys(JSON.parse(line) as object).slice(0, 3)).toEqual(["level", "time", "msg"]);
  });
});
