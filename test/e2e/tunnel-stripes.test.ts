/**
 * `tunnel up --sessions N` through the whole tunnel, every part real but AWS (the rig of
 * tunnel-traffic.test.ts: the compiled client in the client namespace, the fake SSM service with
 * the real agent's pacing and the compiled agent in the instance namespace, the vpc services).
 * Each flow's client port is picked with the tunnel's own hash (stripe-ports.ts), so which
 * session carries which flow is known, and the per-session byte counters of `tunnel status
 * --json` show that flows spread, that one flow stays on one session, and that when a session's
 * WebSocket is killed mid-transfer its flows move and every transfer still arrives whole.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { credproxyBinary } from "../helpers/binary.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { portsPerStripe } from "../helpers/stripe-ports.ts";
import { bulkSha256 } from "../helpers/tunnel-hosts/bulk-bytes.ts";
import { BULK_PORT } from "../helpers/tunnel-hosts/vpc-ports.ts";
import { killRecordedTunnels } from "../helpers/tunnel-client-env.ts";
import { startTunnelServices, type TunnelServices } from "../helpers/tunnel-services.ts";
import { createTunnelTopology, linkNames, runInNamespace, VPC_CIDR, VPC_HOST } from "../helpers/tunnel-topology.ts";
import { waitFor } from "../helpers/wait.ts";

const HELPERS = join(import.meta.dir, "../helpers");
const INSTANCE_ID = "i-0feedfacecafe0005";
const MB = 1_000_000;

interface Stripe {
  index: number;
  state: string;
  sessionId: string;
  bytesReceived: number;
  bytesSent: number;
  reconnects: number;
}

const topology = createTunnelTopology("tsp");
let services: TunnelServices;

afterAll(async () => {
  if (services !== undefined) killRecordedTunnels(services.runtimeDir);
  await cleanupAll();
  topology.remove();
});

const credproxyIn = (args: readonly string[]) => runInNamespace(topology.client, [credproxyBinary(), ...args], { env: services.env, exactEnv: true, timeoutMs: 60_000 });

/** A bulk download of `bytes` from the vpc host, from client port `localPort`; checked whole by sha256. */
async function download(bytes: number, seed: string, localPort: number): Promise<void> {
  const args = [process.execPath, join(HELPERS, "tunnel-hosts/tunnel-probe.ts"), "get", VPC_HOST, BULK_PORT, bytes, seed, localPort].map(String);
  const run = await runInNamespace(topology.client, args, { timeoutMs: 150_000 });
  if (run.code !== 0) throw new Error(`probe get from port ${localPort} failed (exit ${run.code}): ${run.err}`);
  const got = JSON.parse(run.out.split("\n").at(-1)!) as { bytes: number; sha256: string };
  expect({ localPort, bytes: got.bytes, sha256: got.sha256 }).toEqual({ localPort, bytes, sha256: bulkSha256(seed, bytes) });
}

async function status(name: string): Promise<{ state: string; clientAddress: string; stripes: Stripe[] }> {
  const run = await credproxyIn(["tunnel", "status", name, "--json"]);
  return (JSON.parse(run.out) as { state: string; clientAddress: string; stripes: Stripe[] }[])[0]!;
}

/** `tunnel up --sessions n`, then waits until every session is up; the client's tunnel address. */
async function upWithSessions(name: string, n: number): Promise<string> {
  const up = await credproxyIn(["tunnel", "up", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", String(services.agentPort), "--name", name, "--sessions", String(n)]);
  if (up.code !== 0) throw new Error(`tunnel up failed (exit ${up.code}): ${up.err}\nagent: ${services.agent.tail(20)}`);
  await waitFor(async () => (await status(name)).stripes.every((s) => s.state === "up"), { timeoutMs: 30_000, intervalMs: 100, what: `all ${n} sessions of ${name} up` });
  return (await status(name)).clientAddress;
}

const received = (stripes: Stripe[]) => stripes.map((s) => s.bytesReceived);
const agentDevices = () => linkNames(topology.instance).filter((n) => n.startsWith("cpa"));

describe.skipIf(!topology.ok)("credproxy tunnel --sessions: flows striped over several Port sessions", () => {
  let client = "";

  beforeAll(async () => {
    services = await startTunnelServices(topology, INSTANCE_ID);
  }, 60_000);

  test("--sessions 2: two Session Manager sessions, one TUN at the agent, and status shows each session", async () => {
    client = await upWithSessions("two", 2);
    expect(agentDevices()).toHaveLength(1);
    const sessions = await services.control.sessions();
    expect(sessions.filter((s) => s.connected)).toHaveLength(2);
    const text = await credproxyIn(["tunnel", "status", "two"]);
    expect(text.out).toMatch(/^ {2}session 0: up \S+, sent \d+ packets/m);
    expect(text.out).toMatch(/^ {2}session 1: up \S+, sent \d+ packets/m);
  }, 60_000);

  test("parallel flows spread over both sessions by their hash, and each session carries exactly its flows' bytes", async () => {
    const ports = portsPerStripe(2, 2, client, VPC_HOST, BULK_PORT, 41000);
    const before = received((await status("two")).stripes);
    await Promise.all(ports.flatMap((list, i) => list.map((port) => download(MB, `spread-${i}-${port}`, port))));
    const delta = received((await status("two")).stripes).map((n, i) => n - before[i]!);
    // Each session got its two flows' megabytes plus headers (and any resends), and less than a
    // third flow's worth: no flow of the other session came this way.
    for (const d of delta) expect(d).toBeGreaterThan(2 * MB);
    for (const d of delta) expect(d).toBeLessThan(3 * MB);
    console.log(`4 flows over 2 sessions: bytes received per session ${delta.join(", ")}`);
  }, 180_000);

  test("a single flow's bytes all go over one session", async () => {
    const [, [port]] = portsPerStripe(2, 1, client, VPC_HOST, BULK_PORT, 42000) as [number[], number[]];
    const before = received((await status("two")).stripes);
    await download(MB, "single", port!);
    const delta = received((await status("two")).stripes).map((n, i) => n - before[i]!);
    expect(delta[1]).toBeGreaterThan(MB);
    // At most a last ACK or FIN of the previous test's flows, never a share of this one.
    expect(delta[0]).toBeLessThan(10_000);
  }, 120_000);

  test("a session whose WebSocket is killed mid-transfer hands its flows to the other, and every flow arrives whole while it is down", async () => {
    const ports = portsPerStripe(2, 2, client, VPC_HOST, BULK_PORT, 43000);
    const first = (await status("two")).stripes;
    const victim = first[0]!.sessionId;
    const fake = async () => (await services.control.sessions()).find((s) => s.id === victim)!;
    const start = (await fake()).agent.bytesFromTarget;
    const transfers = Promise.all(ports.flatMap((list, i) => list.map((port) => download(3 * MB, `kill-${i}-${port}`, port))));
    await waitFor(async () => (await fake()).agent.bytesFromTarget > start + MB / 2, { timeoutMs: 30_000, intervalMs: 100, what: "half a megabyte over the session to kill" });
    try {
      // The WebSocket goes, its resume is refused, and the sessions started in its place never
      // reach the agent (the fake's Port plugin does not dial), so only session 1 is left.
      await services.control.setFaults({ rejectResume: true, dialDelayMs: 600_000 });
      await services.control.bye(victim);
      await transfers;
      const during = (await status("two")).stripes;
      expect(during[0]!.state).not.toBe("up");
      expect(during[1]).toMatchObject({ state: "up", sessionId: first[1]!.sessionId, reconnects: 0 });
    } finally {
      await services.control.resetFaults();
    }
    await waitFor(async () => (await status("two")).stripes.every((s) => s.state === "up"), { timeoutMs: 40_000, intervalMs: 200, what: "session 0 back after the faults are off" });
    const after = (await status("two")).stripes;
    expect(after[0]!.sessionId).not.toBe(victim);
    expect(after[0]!.reconnects).toBeGreaterThanOrEqual(1);
    console.log(`killed ${victim}; per-session bytes received ${received(after).join(", ")}`);
  }, 180_000);

  test("tunnel down ends every session; the agent removes the client's one TUN", async () => {
    expect((await credproxyIn(["tunnel", "down", "two"])).code).toBe(0);
    await waitFor(() => agentDevices().length === 0, { timeoutMs: 15_000, what: "the agent's TUN to go" });
    await waitFor(async () => (await services.control.sessions()).every((s) => !s.connected), { timeoutMs: 15_000, intervalMs: 100, what: "every fake session to end" });
  }, 60_000);

  test("--sessions 4: one flow per session, each session carries its own", async () => {
    const four = await upWithSessions("four", 4);
    expect(agentDevices()).toHaveLength(1);
    const ports = portsPerStripe(4, 1, four, VPC_HOST, BULK_PORT, 44000);
    const before = received((await status("four")).stripes);
    await Promise.all(ports.map(([port], i) => download(MB / 2, `four-${i}`, port!)));
    const delta = received((await status("four")).stripes).map((n, i) => n - before[i]!);
    for (const d of delta) expect(d).toBeGreaterThan(MB / 2);
    for (const d of delta) expect(d).toBeLessThan(MB);
    expect((await credproxyIn(["tunnel", "down", "four"])).code).toBe(0);
  }, 120_000);
});
