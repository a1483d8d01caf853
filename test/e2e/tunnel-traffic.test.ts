/**
 * Traffic through the whole tunnel, every part real but AWS: the compiled `credproxy tunnel up`
 * in the client namespace, the fake SSM service (its Port plugin dials the agent with the real
 * agent's pacing: 1024-byte reads, 1 ms apart) and the compiled `credproxy agent` in the instance
 * namespace, and the vpc services (tunnel-hosts/) in the vpc namespace. The client namespace's
 * only route to the vpc range is the tunnel, and the vpc has no route back to the tunnel
 * addresses, so every answer proves the tunnel and the agent's NAT. The sibling of
 * tunnel-cli.test.ts, which has a framing peer where this file has the agent. The 20 MB download
 * also shows the client's RX_REPORTs reaching the agent, and a burst of echo replies its
 * in-flight bound dropping packets.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanEnv, credproxyBinary, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { killRecordedTunnels, tunnelClientEnv } from "../helpers/tunnel-client-env.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { FakeSsmControl } from "../helpers/fake-ssm/fake-control-client.ts";
import { bulkSha256 } from "../helpers/tunnel-hosts/bulk-bytes.ts";
import { BULK_PORT, DNS_PORT } from "../helpers/tunnel-hosts/vpc-ports.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, linkNames, routes, runInNamespace, spawnInNamespace, VPC_CIDR, VPC_HOST, VPC_HOST_2 } from "../helpers/tunnel-topology.ts";
import { waitFor } from "../helpers/wait.ts";

const HELPERS = join(import.meta.dir, "../helpers");
const INSTANCE_ID = "i-0feedfacecafe0002";
const MB = 1_000_000;

const topology = createTunnelTopology("ttr");
let runtimeDir = "";
let env: Record<string, string> = {};
let control: FakeSsmControl;
let agent: CredproxyProcess;
let agentPort = 0;

afterAll(async () => {
  killRecordedTunnels(runtimeDir);
  await cleanupAll();
  topology.remove();
});

/** The compiled binary run to completion in the client namespace with exactly `env`. */
const credproxyIn = (args: readonly string[]) => runInNamespace(topology.client, [credproxyBinary(), ...args], { env, exactEnv: true, timeoutMs: 60_000 });

/** tunnel-probe.ts in the client namespace; its JSON answer. */
async function probe<T>(args: readonly (string | number)[], timeoutMs = 120_000): Promise<T> {
  const run = await runInNamespace(topology.client, [process.execPath, join(HELPERS, "tunnel-hosts/tunnel-probe.ts"), ...args.map(String)], { timeoutMs });
  if (run.code !== 0) throw new Error(`probe ${args.join(" ")} failed (exit ${run.code}): ${run.err}`);
  return JSON.parse(run.out.split("\n").at(-1)!) as T;
}

/** Starts the compiled agent in the instance namespace and waits for its listening line. */
async function startAgent(extra: readonly string[] = []): Promise<{ proc: CredproxyProcess; port: number }> {
  const proc = spawnInNamespace(topology.instance, [credproxyBinary(), "agent", "--listen", `127.0.0.1:${agentPort}`, ...extra]);
  const [, port] = await proc.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), /, 15_000, "stdout");
  return { proc, port: Number(port) };
}

async function tunnelUp(name: string): Promise<{ line: string; sessionId: string }> {
  const up = await credproxyIn(["tunnel", "up", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", String(agentPort), "--name", name]);
  if (up.code !== 0) throw new Error(`tunnel up failed (exit ${up.code}): ${up.err}\nagent: ${agent.tail(20)}`);
  return { line: up.out, sessionId: / session (\S+)$/.exec(up.out)![1]! };
}

async function status(name: string): Promise<Record<string, unknown>> {
  const [report] = JSON.parse((await credproxyIn(["tunnel", "status", name, "--json"])).out) as Record<string, unknown>[];
  return report!;
}

const agentDevices = (): string[] => linkNames(topology.instance).filter((n) => n.startsWith("cpa"));
const clientDevices = (): string[] => linkNames(topology.client).filter((n) => n.startsWith("cpx"));
const vpcRoutes = (): unknown[] => routes(topology.client).filter((r) => r.dst === VPC_CIDR);

/** Our iptables chains in the instance namespace (the agent adds them only there). */
async function natRules(): Promise<string[]> {
  const lines: string[] = [];
  for (const table of ["nat", "filter"]) {
    const r = await runInNamespace(topology.instance, ["iptables", "-w", "5", "-t", table, "-S"]);
    lines.push(...r.out.split("\n").filter((l) => l.includes("CREDPROXY")));
  }
  return lines;
}

const ipForward = () => readInNamespace(topology.instance, "/proc/sys/net/ipv4/ip_forward");
async function readInNamespace(ns: string, file: string): Promise<string> {
  return (await runInNamespace(ns, ["cat", file])).out;
}

describe.skipIf(!topology.ok)("traffic through credproxy tunnel and credproxy agent", () => {
  let sessionId = "";

  beforeAll(async () => {
    const vpc = spawnInNamespace(topology.vpc, [process.execPath, join(HELPERS, "tunnel-hosts/vpc-services.ts"), "--answer", VPC_HOST]);
    await vpc.waitForLine(/^vpc services ready$/, 10_000, "stdout");
    ({ proc: agent, port: agentPort } = await startAgent());
    // Only the far end's fake EC2 is used here; its framing peer idles.
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    const fake = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), "--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${agentPort}`, "--instance", INSTANCE_ID]);
    const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
    control = new FakeSsmControl(apiUrl!, topology.instance);
    runtimeDir = await tempDir("credproxy-traffic-rt-");
    env = tunnelClientEnv({ ssm: apiUrl!, ec2: ec2! }, runtimeDir);
  }, 60_000);

  test("tunnel up takes the agent's address pair; the agent has a TUN for the client and its NAT rules", async () => {
    const up = await tunnelUp("traffic");
    sessionId = up.sessionId;
    expect(up.line).toMatch(/^tunnel up: traffic via cpx\d+ 100\.64\.0\.3 -> 100\.64\.0\.2 mtu 1400, routes 10\.99\.0\.0\/24, /);
    await agent.waitForLine(/client session up/, 10_000, "stderr");
    expect(agentDevices()).toHaveLength(1);
    expect(await natRules()).toEqual(expect.arrayContaining(["-A POSTROUTING -j CREDPROXY-NAT", "-A CREDPROXY-NAT -s 100.64.0.0/24 -j MASQUERADE", "-A FORWARD -j CREDPROXY-FWD"]));
    expect(await ipForward()).toBe("1");
  }, 60_000);

  test("ICMP: ping reaches a vpc host and back", async () => {
    const ping = await runInNamespace(topology.client, ["ping", "-c", "5", "-i", "0.2", "-W", "5", VPC_HOST]);
    expect(ping.code).toBe(0);
    expect(ping.out).toContain("5 received");
    console.log(`ping through the tunnel: ${/rtt (.*)$/m.exec(ping.out)?.[1] ?? ping.out}`);
  }, 30_000);

  test("UDP: DNS-shaped queries to a vpc host are answered", async () => {
    const dns = await probe<{ answers: { address: string }[]; rttMs: number[] }>(["dns", VPC_HOST, DNS_PORT, "db.vpc.test.invalid", 5]);
    expect(dns.answers.map((a) => a.address)).toEqual(Array(5).fill(VPC_HOST));
    console.log(`DNS round trips (ms): ${dns.rttMs.map((ms) => ms.toFixed(1)).join(" ")}`);
  }, 30_000);

  test("TCP: 20 MB from a vpc host arrive whole (sha256 equal); 5 MB up arrive whole at the host", async () => {
    const get = await probe<{ bytes: number; sha256: string; ms: number }>(["get", VPC_HOST, BULK_PORT, 20 * MB, "twenty"]);
    expect({ bytes: get.bytes, sha256: get.sha256 }).toEqual({ bytes: 20 * MB, sha256: bulkSha256("twenty", 20 * MB) });
    const put = await probe<{ reply: string; ms: number }>(["put", VPC_HOST_2, BULK_PORT, 5 * MB, "five"]);
    expect(put.reply).toBe(`sha256 ${bulkSha256("five", 5 * MB)} ${5 * MB}`);
    const after = (await status("traffic")) as { drops: Record<string, number>; stripes: { inFlightBound?: Record<string, number> }[] };
    console.log(`20 MB down in ${(get.ms / 1000).toFixed(1)} s (${(20 / (get.ms / 1000)).toFixed(2)} MB/s), 5 MB up in ${(put.ms / 1000).toFixed(1)} s; client drops ${JSON.stringify(after.drops)}; agent bound ${JSON.stringify(after.stripes[0]?.inFlightBound)}`);
    // The client reported what it received, and the agent's in-flight bound measured the path
    // from the reports (whether the download itself was dropped from depends on the sender's
    // congestion control, which the next test does not leave to chance).
    const bound = after.stripes[0]!.inFlightBound!;
    expect(bound.reportsSent).toBeGreaterThan(100);
    expect(bound.limitBytes).toBeGreaterThanOrEqual(24 * 1024);
    expect(bound.rateBytesPerSecond).toBeGreaterThan(0);
    expect(bound.minRttMs).toBeGreaterThanOrEqual(0);
    expect(after.drops.inFlightBound).toBe(bound.drops);
  }, 180_000);

  test("a burst toward the client past twice the agent's in-flight target is dropped at the agent, and status shows it", async () => {
    const before = ((await status("traffic")) as { drops: { inFlightBound: number } }).drops.inFlightBound;
    // 200 echo requests of 1300 bytes at once: the client's upload is not paced, so ~250 KB of
    // replies reach the agent far faster than the SSM agent's 1 KiB/ms takes them.
    await runInNamespace(topology.client, ["ping", "-q", "-c", "200", "-l", "200", "-s", "1300", "-w", "10", VPC_HOST], { timeoutMs: 20_000 });
    await waitFor(async () => ((await status("traffic")) as { drops: { inFlightBound: number } }).drops.inFlightBound > before, {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: "BOUND_STATS with the agent's drops of the burst",
    });
  }, 60_000);

  test("with drops, duplicates and reordering both ways at the fake, transfers still arrive whole and once", async () => {
    await control.setFaults({ toClient: { drop: 0.03, duplicate: 0.03, reorder: 0.03 }, fromClient: { drop: 0.03, duplicate: 0.03, reorder: 0.03 } });
    try {
      const get = await probe<{ bytes: number; sha256: string; ms: number }>(["get", VPC_HOST, BULK_PORT, 2 * MB, "faulty-down"]);
      expect({ bytes: get.bytes, sha256: get.sha256 }).toEqual({ bytes: 2 * MB, sha256: bulkSha256("faulty-down", 2 * MB) });
      const put = await probe<{ reply: string }>(["put", VPC_HOST, BULK_PORT, MB, "faulty-up"]);
      expect(put.reply).toBe(`sha256 ${bulkSha256("faulty-up", MB)} ${MB}`);
      const dns = await probe<{ answers: unknown[] }>(["dns", VPC_HOST, DNS_PORT, "faulty.vpc.test.invalid", 5]);
      expect(dns.answers).toHaveLength(5);
      const session = (await control.sessions()).find((s) => s.id === sessionId)!;
      expect(session.toClient.dropped + session.fromClient.dropped).toBeGreaterThan(0);
      expect(session.toClient.duplicated + session.fromClient.duplicated).toBeGreaterThan(0);
      console.log(`2 MB down under faults in ${(get.ms / 1000).toFixed(1)} s; fake link: to client ${JSON.stringify(session.toClient)}, from client ${JSON.stringify(session.fromClient)}`);
    } finally {
      await control.resetFaults();
    }
  }, 120_000);

  test("a 1000 Bye in the middle of a transfer is resumed and the transfer completes whole", async () => {
    const before = (await control.sessions()).find((s) => s.id === sessionId)!;
    const transfer = probe<{ bytes: number; sha256: string }>(["get", VPC_HOST, BULK_PORT, 5 * MB, "across-bye"]);
    await waitFor(async () => (await control.sessions()).find((s) => s.id === sessionId)!.agent.bytesFromTarget > before.agent.bytesFromTarget + MB, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "a megabyte of the transfer to pass the fake",
    });
    await control.bye(sessionId);
    const got = await transfer;
    expect({ bytes: got.bytes, sha256: got.sha256 }).toEqual({ bytes: 5 * MB, sha256: bulkSha256("across-bye", 5 * MB) });
    expect(await status("traffic")).toMatchObject({ state: "up", sessionId, reconnects: 1 });
    expect((await control.sessions()).find((s) => s.id === sessionId)).toMatchObject({ resumeCalls: 1, connected: true });
    // The SSM agent's connection outlived the resume, so the agent kept the same session and TUN.
    expect(agentDevices()).toHaveLength(1);
  }, 60_000);

  test("tunnel down: the client's TUN and route are gone, and the agent ends the session and removes its TUN", async () => {
    const down = await credproxyIn(["tunnel", "down", "traffic"]);
    expect({ code: down.code, out: down.out }).toEqual({ code: 0, out: "tunnel traffic: down" });
    expect(clientDevices()).toEqual([]);
    expect(vpcRoutes()).toEqual([]);
    const [ended] = await agent.waitForLine(/client session ended .*/, 10_000, "stderr");
    console.log(`agent: ${ended!.slice(ended!.indexOf("client session ended"))}`);
    await waitFor(() => agentDevices().length === 0, { timeoutMs: 10_000, what: "the agent's TUN to go" });
    expect(routes(topology.instance).filter((r) => r.dev?.startsWith("cpa"))).toEqual([]);
  }, 60_000);

  test("agent SIGTERM with a client connected: the client hears CLOSE, and no TUN, route, NAT rule or ip_forward is left", async () => {
    await tunnelUp("sigterm");
    await waitFor(() => agentDevices().length === 1, { timeoutMs: 10_000, what: "the agent's TUN for the new client" });
    expect(await agent.kill("SIGTERM", 15_000)).toEqual({ code: 0, signal: null });
    expect(agent.stderrLines.join("\n")).toMatch(/client session ended .* reason=the agent is shutting down /);
    expect(agentDevices()).toEqual([]);
    expect(routes(topology.instance).filter((r) => r.dev?.startsWith("cpa") || r.dst?.startsWith("100.64."))).toEqual([]);
    expect(await natRules()).toEqual([]);
    expect(await ipForward()).toBe("0");
    // The client keeps its TUN and tries new sessions; down still takes everything away.
    await waitFor(async () => (await status("sigterm")).state !== "up", { timeoutMs: 10_000, what: "the client to notice the CLOSE" });
    expect((await credproxyIn(["tunnel", "down", "sigterm"])).code).toBe(0);
    expect(clientDevices()).toEqual([]);
    expect(vpcRoutes()).toEqual([]);
  }, 60_000);

  test("with --allow-cidr, a client reaches only the allowed host: the other is dropped at the agent", async () => {
    ({ proc: agent } = await startAgent(["--allow-cidr", `${VPC_HOST}/32`]));
    await tunnelUp("allow");
    expect((await runInNamespace(topology.client, ["ping", "-c", "1", "-W", "5", VPC_HOST])).code).toBe(0);
    const refused = await probe<{ ok: boolean; code: string }>(["connect", VPC_HOST_2, BULK_PORT, 2000]);
    expect(refused).toEqual({ ok: false, code: "TIMEOUT" });
    expect((await credproxyIn(["tunnel", "down", "allow"])).code).toBe(0);
    expect(await agent.kill("SIGTERM", 15_000)).toEqual({ code: 0, signal: null });
    expect(await natRules()).toEqual([]);
  }, 60_000);
});

describe.skipIf(!topology.ok)("credproxy agent refuses bad input before touching anything", () => {
  test("a bad flag names the flag and the value, exits 2, and adds no NAT rule", async () => {
    const r = await runInNamespace(topology.instance, [credproxyBinary(), "agent", "--allow-cidr", "10.99.0.1/24"], { env: cleanEnv(), exactEnv: true });
    expect(r.code).toBe(2);
    expect(r.err).toContain('error[E_USAGE]: agent: --allow-cidr "10.99.0.1/24": 10.99.0.1/24 has host bits set; write 10.99.0.0/24');
    expect(await natRules()).toEqual([]);
  });

  test("without root or CAP_NET_ADMIN it says so in one line and exits 1", async () => {
    const r = await runInNamespace(topology.instance, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", credproxyBinary(), "agent"], { env: cleanEnv(), exactEnv: true });
    expect(r.code).toBe(1);
    expect(r.err.split("\n")[0]).toBe("error[E_PLATFORM]: credproxy agent needs root or CAP_NET_ADMIN to create TUN devices, routes and NAT rules");
    expect(await natRules()).toEqual([]);
  });
});
