/**
 * Runs INSIDE the network namespace broker-imds.test.ts creates (`ip netns exec <ns> bun
 * this-file`), with a second namespace joined to it by a veth pair (CREDPROXY_IMDS_PEER_NS).
 * moto, `credproxy broker imds` and the SDK clients all live in the first namespace, so
 * 169.254.169.254 exists only there. Prints one JSON report on stdout.
 */
import { BINARY_PATH, spawnCredproxy, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { commandFor, type ClientKind } from "../helpers/clients.ts";
import { startMoto } from "../helpers/moto.ts";
import { loAddresses, runScenario } from "../helpers/netns.ts";

export const IMDS = "169.254.169.254";
const TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";

/** `awsCliMethod`: the last credential provider the AWS CLI tried (from --debug), the one that worked. */
export type Run = { code: number; out: string; err: string; tokensIssued: number; ms: number; awsCliMethod?: string | undefined };
export type Raw = { status?: number; body?: string; ttl?: string; error?: string };

/**
 * One HTTP request made by a separate `node` process, so it can pick its source address
 * (`localAddress`) or run in the other namespace (`prefix`: ip netns exec <peer>).
 */
const RAW_SCRIPT = `
const http = require("node:http");
const o = JSON.parse(process.argv.at(-1));
const req = http.request({ host: o.host, port: o.port, path: o.path, method: o.method, headers: o.headers, localAddress: o.localAddress, timeout: 3000 }, (res) => {
  let body = "";
  res.on("data", (c) => (body += c));
  res.on("end", () => console.log(JSON.stringify({ status: res.statusCode, body, ttl: res.headers["${TTL_HEADER}"] })));
});
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", (e) => console.log(JSON.stringify({ error: String(e) })));
req.end();
`;

interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  host?: string;
  localAddress?: string;
  prefix?: string[];
}

async function raw(r: RawRequest): Promise<Raw> {
  const spec = { host: r.host ?? IMDS, port: 80, path: r.path, method: r.method, headers: r.headers ?? {}, localAddress: r.localAddress };
  const proc = Bun.spawn([...(r.prefix ?? []), "node", "-e", RAW_SCRIPT, JSON.stringify(spec)], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  try {
    return JSON.parse(out.trim()) as Raw;
  } catch {
    return { error: `no JSON from node: ${out} ${err}` };
  }
}

const put = (ttl = "21600", extra: Record<string, string> = {}): RawRequest => ({
  method: "PUT",
  path: "/latest/api/token",
  headers: { [TTL_HEADER]: ttl, ...extra },
});

function tokensIssued(p: CredproxyProcess): number {
  return p.logRecords().filter((r) => r.msg === "IMDS token issued").length;
}

async function client(kind: ClientKind, env: Record<string, string>, imds: CredproxyProcess): Promise<Run> {
  const before = tokensIssued(imds);
  const started = performance.now();
  const proc = Bun.spawn(commandFor(kind), { env, stdout: "pipe", stderr: "pipe", cwd: env.HOME ?? "/" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const ms = performance.now() - started;
  await Bun.sleep(50); // let credproxy's last log lines arrive
  const awsCliMethod = [...err.matchAll(/Looking for credentials via: (\S+)/g)].map((m) => m[1]).at(-1);
  return { code, out: out.trim(), err: err.slice(-6000), tokensIssued: tokensIssued(imds) - before, ms, awsCliMethod };
}

await runScenario(async (report) => {
  const peerNs = process.env.CREDPROXY_IMDS_PEER_NS;
  if (!peerNs) throw new Error("CREDPROXY_IMDS_PEER_NS is not set");
  const moto = await startMoto({ validating: true });
  const roleA = moto.roleArn("role-a");
  const credproxyEnv = {
    AWS_ACCESS_KEY_ID: moto.user.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.user.secretAccessKey,
    AWS_ENDPOINT_URL_STS: moto.endpoint,
    AWS_REGION: "us-east-1",
  };
  report.before = await loAddresses();

  const imds = spawnCredproxy(["broker", "imds", "--role-arn", roleA, "--log-level", "debug"], { env: credproxyEnv });
  await imds.waitForLine(/credproxy broker imds listening/, 15_000);
  report.during = await loAddresses();
  report.aliasStdout = [...imds.stdoutLines];

  // The protocol rules, straight at 169.254.169.254:80.
  const token = await raw(put());
  const withToken = (path: string, extra: Record<string, string> = {}): RawRequest => ({
    method: "GET",
    path,
    headers: { "x-aws-ec2-metadata-token": token.body ?? "", ...extra },
  });
  report.protocol = {
    token: { status: token.status, ttl: token.ttl, length: token.body?.length },
    roleList: await raw(withToken("/latest/meta-data/iam/security-credentials/")),
    noToken: (await raw({ method: "GET", path: "/latest/meta-data/iam/security-credentials/" })).status,
    getTokenPath: (await raw({ method: "GET", path: "/latest/api/token" })).status,
    badTtl: (await raw(put("0"))).status,
    xffPut: (await raw(put("60", { "x-forwarded-for": "203.0.113.7" }))).status,
    wrongHostPut: (await raw(put("60", { host: "attacker.example" }))).status,
    wrongHostGet: (await raw(withToken("/latest/meta-data/iam/security-credentials/", { host: "rebound.attacker.example" }))).status,
    // A client that picks 127.0.0.1 as its source is as welcome as one arriving from the alias.
    fromLoopbackSource: (await raw({ ...put("60"), localAddress: "127.0.0.1" })).status,
  };
  report.tokenPeers = [...new Set(imds.logRecords().filter((r) => r.msg === "IMDS token issued").map((r) => r.peer))];

  // The other namespace reaches 169.254.169.254 over the veth pair: TCP connects, then 403.
  const fromPeer: RawRequest = { ...put("60"), prefix: ["ip", "netns", "exec", peerNs] };
  report.remote = {
    put: await raw(fromPeer),
    get: await raw({ ...fromPeer, method: "GET", path: "/latest/meta-data/iam/security-credentials/", headers: {} }),
  };
  await Bun.sleep(50);
  report.remoteRefusals = imds
    .logRecords()
    .filter((r) => r.msg === "IMDS request refused: the peer is not on this host")
    .map((r) => r.peer);

  // SDK default chains with no credentials of their own. IMDS stays enabled for them, and v1
  // is forbidden, so success means the IMDSv2 token flow worked.
  const home = await tempDir("credproxy-imdsns-home-");
  const clientEnv: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_V1_DISABLED: "true",
    AWS_REGION: "us-east-1",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_ENDPOINT_URL_STS: moto.endpoint,
  };
  if (process.env.PYENV_ROOT) clientEnv.PYENV_ROOT = process.env.PYENV_ROOT;
  report.clientEnvNames = Object.keys(clientEnv).sort();
  report.clients = {
    boto3: await client("boto3", clientEnv, imds),
    "aws-cli": await client("aws-cli", clientEnv, imds),
    "js-sdk": await client("js-sdk", clientEnv, imds),
  };

  report.exit = await imds.kill("SIGTERM", 5000);
  report.after = await loAddresses();
  report.leakedSecrets = imds.stderrLines.some((l) => token.body !== undefined && token.body !== "" && l.includes(token.body));

  // Without CAP_NET_ADMIN: an unprivileged uid with no capabilities falls back to 127.0.0.1.
  const fallback = spawnCredproxy(
    ["--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", BINARY_PATH, "broker", "imds", "--role-arn", roleA, "--log-level", "debug"],
    { binary: "/usr/bin/setpriv", cwd: "/", env: { ...credproxyEnv, HOME: "/tmp" } },
  );
  const line = await fallback.waitForLine(/^AWS_EC2_METADATA_SERVICE_ENDPOINT=(.*)$/, 15_000, "stdout");
  await fallback.waitForLine(/credproxy broker imds listening/, 15_000);
  const endpoint = line[1] ?? "";
  report.fallback = {
    stdout: [...fallback.stdoutLines],
    endpoint,
    lo: await loAddresses(),
    client: await client("boto3", { ...clientEnv, AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint }, fallback),
    warning: fallback.logRecords().find((r) => r.level === "warn")?.msg,
    hint: String(fallback.logRecords().find((r) => r.level === "warn")?.hint ?? ""),
    exit: await fallback.kill("SIGTERM", 5000),
  };
  await moto.stop();
});
