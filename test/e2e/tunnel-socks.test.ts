/**
 * `credproxy tunnel socks` end to end with no root on either end: the compiled binary in the
 * client namespace and the compiled `credproxy agent --mode socks` in the instance namespace both
 * run as nobody (setpriv), the fake SSM service between them with the real agent's pacing, and
 * an HTTP server in the vpc namespace. The client namespace has no route to the vpc at all and
 * no TUN appears anywhere, so every answer came over the streams the agent dialled itself.
 *
 * The name web.vpc.invalid resolves only at the agent: it runs in a private mount namespace
 * whose /etc/hosts (a file of ours, bind-mounted there only) names the vpc host, standing in
 * for the VPC resolver and a private zone. Nothing outside that namespace sees the file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { credproxyBinary, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { killRecordedTunnels, tunnelClientEnv } from "../helpers/tunnel-client-env.ts";
import { BULK_PORT, ECHO_PORT } from "../helpers/tunnel-hosts/vpc-ports.ts";
import { DEFAULT_STREAM_WINDOW } from "../../src/tunnel/streams/stream-mux.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, linkNames, runInNamespace, spawnInNamespace, VPC_HOST, VPC_HOST_2 } from "../helpers/tunnel-topology.ts";
import { withTimeout } from "../helpers/wait.ts";

const HELPERS = join(import.meta.dir, "../helpers");
const INSTANCE_ID = "i-0feedfacecafe0005";
const NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"];
const WEB_PORT = 8080;
const PROXY = "127.0.0.1:1080";
const FORWARD_PORT = 18080;
const PG_FORWARD_PORT = 15432;
const BULK_FORWARD_PORT = 17002;
const ECHO_FORWARD_PORT = 17001;
const PG_BIN = ["15", "16", "17", "14", "13"].map((v) => `/usr/lib/postgresql/${v}/bin`).find((dir) => existsSync(join(dir, "initdb")));

const topology = createTunnelTopology("sox");
let runtimeDir = "";
let env: Record<string, string> = {};
let agent: CredproxyProcess;
let client: CredproxyProcess;
let upLine = "";
let agentPort = "";

afterAll(async () => {
  killRecordedTunnels(runtimeDir);
  await cleanupAll();
  topology.remove();
});

const inClient = (command: readonly string[]) => runInNamespace(topology.client, command, { env, exactEnv: true, timeoutMs: 30_000 });
const uidOf = (pid: number): string => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!;

describe.skipIf(!topology.ok)("tunnel socks: SOCKS5, HTTP CONNECT and -L through an agent in socks mode, no root", () => {
  beforeAll(async () => {
    const web = spawnInNamespace(topology.vpc, [
      process.execPath,
      "-e",
      `Bun.serve({ hostname: "0.0.0.0", port: ${WEB_PORT}, fetch: (r) => new Response("vpc web " + new URL(r.url).pathname) }); console.log("web ready");`,
    ]);
    await web.waitForLine(/^web ready$/, 10_000, "stdout");
    const services = spawnInNamespace(topology.vpc, [process.execPath, join(HELPERS, "tunnel-hosts/vpc-services.ts"), "--answer", VPC_HOST]);
    await services.waitForLine(/^vpc services ready$/, 10_000, "stdout");
    const scratch = await tempDir("credproxy-socks-");
    if (PG_BIN !== undefined) await startPostgres(scratch);
    const hosts = join(scratch, "hosts");
    writeFileSync(hosts, `127.0.0.1 localhost\n${VPC_HOST} web.vpc.invalid db.vpc.invalid\n`);
    chmodSync(hosts, 0o644);
    const agentCommand = `mount --bind ${hosts} /etc/hosts && exec ${NOBODY.join(" ")} ${credproxyBinary()} agent --mode socks --listen 127.0.0.1:0 --allow-cidr ${VPC_HOST}/32`;
    agent = spawnInNamespace(topology.instance, ["unshare", "--mount", "--propagation", "private", "sh", "-c", agentCommand]);
    agentPort = (await agent.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), mode socks \(no TUN, no NAT\)/, 15_000, "stdout"))[1]!;
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    const fake = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), "--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${agentPort}`, "--instance", INSTANCE_ID]);
    const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
    runtimeDir = await tempDir("credproxy-socks-rt-");
    chownSync(runtimeDir, 65534, 65534);
    env = tunnelClientEnv({ ssm: apiUrl!, ec2: ec2! }, runtimeDir);
    client = spawnInNamespace(
      topology.client,
      [...NOBODY, credproxyBinary(), "tunnel", "socks", "--foreground", "--instance-id", INSTANCE_ID, "--agent-port", agentPort, "--listen", PROXY, "-L", `${FORWARD_PORT}:${VPC_HOST}:${WEB_PORT}`, ...extraForwards(), "--name", "socks"],
      { env },
    );
    [upLine] = await client.waitForLine(/^tunnel up: socks via socks: .*$/, 30_000, "stdout");
  }, 90_000);

  test("both ends run as nobody; no TUN exists on either and the client has no route to the vpc", () => {
    expect(upLine).toStartWith(`tunnel up: socks via socks: socks5+connect ${PROXY}, 127.0.0.1:${FORWARD_PORT}>${VPC_HOST}:${WEB_PORT}, `);
    expect(upLine).toEndWith(`; instance ${INSTANCE_ID}, session ${/session (\S+)$/.exec(upLine)![1]}`);
    expect(uidOf(client.pid)).toBe("65534");
    expect(uidOf(agent.pid)).toBe("65534");
    expect(linkNames(topology.instance).filter((n) => n.startsWith("cpa") || n.startsWith("tun"))).toEqual([]);
    expect(linkNames(topology.client).filter((n) => n.startsWith("cpx") || n.startsWith("tun"))).toEqual([]);
  });

  test("curl --socks5-hostname reaches the vpc web server by a name only the agent resolves", async () => {
    const r = await inClient(["curl", "-q", "-sS", "--socks5-hostname", PROXY, `http://web.vpc.invalid:${WEB_PORT}/by-name`]);
    expect(r).toMatchObject({ code: 0, out: "vpc web /by-name" });
  });

  test("curl -p (HTTP CONNECT) on the same port reaches it by address", async () => {
    const r = await inClient(["curl", "-q", "-sS", "-p", "-x", `http://${PROXY}`, `http://${VPC_HOST}:${WEB_PORT}/connect`]);
    expect(r).toMatchObject({ code: 0, out: "vpc web /connect" });
  });

  test("an -L forward takes a client with no proxy support there", async () => {
    const r = await inClient(["curl", "-q", "-sS", `http://127.0.0.1:${FORWARD_PORT}/forwarded`]);
    expect(r).toMatchObject({ code: 0, out: "vpc web /forwarded" });
  });

  test("a destination outside the agent's --allow-cidr is refused, with the reason in the CONNECT reply", async () => {
    const socks = await inClient(["curl", "-q", "-sS", "--socks5-hostname", PROXY, `http://${VPC_HOST_2}:${WEB_PORT}/`]);
    expect(socks.code).toBe(97);
    expect(socks.err).toContain("(2)");
    const http = await inClient(["curl", "-q", "-sS", "-v", "-p", "-x", `http://${PROXY}`, `http://${VPC_HOST_2}:${WEB_PORT}/`]);
    expect(http.err).toContain(`X-Credproxy-Error: ${VPC_HOST_2} is not allowed: the agent allows ${VPC_HOST}/32`);
    await agent.waitForLine(/stream refused/, 10_000, "stderr");
  });

  test.skipIf(PG_BIN === undefined)("psql reaches a PostgreSQL server in the vpc through -L, by a name the agent resolves", async () => {
    const r = await inClient(["psql", "-h", "127.0.0.1", "-p", String(PG_FORWARD_PORT), "-U", "postgres", "-d", "postgres", "-At", "-c", "select 'answer ' || (40 + 2), inet_server_addr()"]);
    expect(r).toMatchObject({ code: 0, out: `answer 42|${VPC_HOST}` });
  });

  test("an interactive stream beside a bulk one: every echo comes back while most of the bulk download is still to come", async () => {
    const total = 8_000_000;
    const run = await runInNamespace(topology.client, [process.execPath, join(HELPERS, "tunnel-hosts/interactive-beside-bulk.ts"), String(BULK_FORWARD_PORT), String(ECHO_FORWARD_PORT), String(total), "8"], { timeoutMs: 120_000 });
    expect(run.code).toBe(0);
    const { bulkBytesAtEcho, bulkTotal } = JSON.parse(run.out.split("\n").at(-1)!) as { bulkBytesAtEcho: number[]; bulkTotal: number };
    expect(bulkTotal).toBe(total);
    expect(bulkBytesAtEcho).toHaveLength(8);
    // Each round trip waits behind at most one DATA frame per busy stream and the bounded queues
    // (a couple of hundred KB at the agent's pacing), never behind the bulk stream's megabytes.
    expect(bulkBytesAtEcho.at(-1)!).toBeLessThan(total / 2);
    // And by the in-flight bound: the agent paces the bulk stream to about one round trip of the
    // paced path (its 24 KiB floor here), so between two answers far less than the bulk stream's
    // window arrives (without the bound: up to a window and a frame or two, 256+ KiB).
    const gaps = bulkBytesAtEcho.slice(1).map((bytes, i) => bytes - bulkBytesAtEcho[i]!);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(DEFAULT_STREAM_WINDOW / 2);
    console.log(`bulk bytes when each echo came back: ${bulkBytesAtEcho.join(" ")} (of ${total})`);
  }, 120_000);

  test("tunnel up (TUN mode) against the socks-mode agent stops at once and says what to run", async () => {
    const up = await runInNamespace(topology.client, [credproxyBinary(), "tunnel", "up", "--cidr", "10.99.0.0/24", "--instance-id", INSTANCE_ID, "--agent-port", agentPort, "--name", "tun-try"], { env, exactEnv: true, timeoutMs: 60_000 });
    expect(up.code).not.toBe(0);
    expect(up.err).toContain("the agent on the instance runs in socks mode (no TUN)");
    expect(linkNames(topology.client).filter((n) => n.startsWith("cpx"))).toEqual([]);
  }, 60_000);

  test("tunnel status shows the listeners and the streams; tunnel down stops it", async () => {
    const report = JSON.parse((await inClient([credproxyBinary(), "tunnel", "status", "socks", "--json"])).out)[0] as Record<string, unknown>;
    expect(report).toMatchObject({ name: "socks", state: "up", mode: "socks", interface: "socks", instanceId: INSTANCE_ID });
    expect(report.streamsOpened as number).toBeGreaterThanOrEqual(3);
    const text = await inClient([credproxyBinary(), "tunnel", "status", "socks"]);
    expect(text.out).toContain(`listening socks5+connect ${PROXY}, 127.0.0.1:${FORWARD_PORT}>${VPC_HOST}:${WEB_PORT}, `);
    expect(text.out).toContain("(socks mode: no TUN)");
    const list = await inClient([credproxyBinary(), "tunnel", "list"]);
    expect(list.out).toMatch(/^socks {2}up {2}socks {2}i-0feedfacecafe0005 /);
    const down = await inClient([...NOBODY, credproxyBinary(), "tunnel", "down", "socks"]);
    expect(down.code).toBe(0);
    expect((await withTimeout(client.exited, 15_000, "the tunnel process to exit")).code).toBe(0);
  }, 30_000);
});

function extraForwards(): string[] {
  const forwards = [`${BULK_FORWARD_PORT}:${VPC_HOST}:${BULK_PORT}`, `${ECHO_FORWARD_PORT}:${VPC_HOST}:${ECHO_PORT}`];
  if (PG_BIN !== undefined) forwards.push(`${PG_FORWARD_PORT}:db.vpc.invalid:5432`);
  return forwards.flatMap((f) => ["-L", f]);
}

/** A private cluster in our temp dir, run as nobody in the vpc namespace (never the system service). */
async function startPostgres(scratch: string): Promise<void> {
  const data = join(scratch, "pgdata");
  const sockets = join(scratch, "pgsock");
  for (const dir of [data, sockets]) {
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
  }
  chmodSync(scratch, 0o755);
  const init = await runInNamespace(topology.vpc, [...NOBODY, join(PG_BIN!, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"], { env: { LANG: "C", LC_ALL: "C" }, exactEnv: true, timeoutMs: 60_000 });
  if (init.code !== 0) throw new Error(`initdb failed: ${init.err}`);
  // Connections arrive from the instance's address: the agent dialled them.
  appendFileSync(join(data, "pg_hba.conf"), "host all all 10.99.0.1/32 trust\n");
  const server = spawnInNamespace(topology.vpc, [...NOBODY, join(PG_BIN!, "postgres"), "-D", data, "-h", VPC_HOST, "-p", "5432", "-k", sockets, "-c", "fsync=off"], { env: { LANG: "C", LC_ALL: "C" } });
  await server.waitForLine(/database system is ready to accept connections/, 30_000, "stderr");
}
