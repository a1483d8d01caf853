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
import { chmodSync, chownSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { credproxyBinary, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { killRecordedTunnels, tunnelClientEnv } from "../helpers/tunnel-client-env.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, linkNames, runInNamespace, spawnInNamespace, VPC_HOST, VPC_HOST_2 } from "../helpers/tunnel-topology.ts";
import { withTimeout } from "../helpers/wait.ts";

const HELPERS = join(import.meta.dir, "../helpers");
const INSTANCE_ID = "i-0feedfacecafe0005";
const NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"];
const WEB_PORT = 8080;
const PROXY = "127.0.0.1:1080";
const FORWARD_PORT = 18080;

const topology = createTunnelTopology("sox");
let runtimeDir = "";
let env: Record<string, string> = {};
let agent: CredproxyProcess;
let client: CredproxyProcess;
let upLine = "";

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
    const scratch = await tempDir("credproxy-socks-");
    const hosts = join(scratch, "hosts");
    writeFileSync(hosts, `127.0.0.1 localhost\n${VPC_HOST} web.vpc.invalid\n`);
    chmodSync(hosts, 0o644);
    const agentCommand = `mount --bind ${hosts} /etc/hosts && exec ${NOBODY.join(" ")} ${credproxyBinary()} agent --mode socks --listen 127.0.0.1:0 --allow-cidr ${VPC_HOST}/32`;
    agent = spawnInNamespace(topology.instance, ["unshare", "--mount", "--propagation", "private", "sh", "-c", agentCommand]);
    const [, agentPort] = await agent.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), mode socks \(no TUN, no NAT\)/, 15_000, "stdout");
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    const fake = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), "--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${agentPort}`, "--instance", INSTANCE_ID]);
    const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
    runtimeDir = await tempDir("credproxy-socks-rt-");
    chownSync(runtimeDir, 65534, 65534);
    env = tunnelClientEnv({ ssm: apiUrl!, ec2: ec2! }, runtimeDir);
    client = spawnInNamespace(
      topology.client,
      [...NOBODY, credproxyBinary(), "tunnel", "socks", "--foreground", "--instance-id", INSTANCE_ID, "--agent-port", agentPort!, "--listen", PROXY, "-L", `${FORWARD_PORT}:${VPC_HOST}:${WEB_PORT}`, "--name", "socks"],
      { env },
    );
    [upLine] = await client.waitForLine(/^tunnel up: socks via socks: .*$/, 30_000, "stdout");
  }, 90_000);

  test("both ends run as nobody; no TUN exists on either and the client has no route to the vpc", () => {
    expect(upLine).toBe(`tunnel up: socks via socks: socks5+connect ${PROXY}, 127.0.0.1:${FORWARD_PORT}>${VPC_HOST}:${WEB_PORT}; instance ${INSTANCE_ID}, session ${/session (\S+)$/.exec(upLine)![1]}`);
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

  test("tunnel status shows the listeners and the streams; tunnel down stops it", async () => {
    const report = JSON.parse((await inClient([credproxyBinary(), "tunnel", "status", "socks", "--json"])).out)[0] as Record<string, unknown>;
    expect(report).toMatchObject({ name: "socks", state: "up", mode: "socks", interface: "socks", instanceId: INSTANCE_ID });
    expect(report.streamsOpened as number).toBeGreaterThanOrEqual(3);
    const text = await inClient([credproxyBinary(), "tunnel", "status", "socks"]);
    expect(text.out).toContain(`listening socks5+connect ${PROXY}, 127.0.0.1:${FORWARD_PORT}>${VPC_HOST}:${WEB_PORT} (socks mode: no TUN)`);
    const list = await inClient([credproxyBinary(), "tunnel", "list"]);
    expect(list.out).toMatch(/^socks {2}up {2}socks {2}i-0feedfacecafe0005 /);
    const down = await inClient([...NOBODY, credproxyBinary(), "tunnel", "down", "socks"]);
    expect(down.code).toBe(0);
    expect((await withTimeout(client.exited, 15_000, "the tunnel process to exit")).code).toBe(0);
  }, 30_000);
});
