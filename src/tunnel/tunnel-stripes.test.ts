/**
 * A tunnel of several striped sessions (`--sessions N`) with fake data channels, a fake TUN and
 * a hand-driven clock: the stripe handshake (HELLO_ACK with our index, the TUN only after
 * STRIPE_JOINED), packets spread by flow and each flow on one session, STRIPES_LIVE, failover
 * while a session resumes or restarts, per-session status, and an agent without stripes.
 */
import { describe, expect, test } from "bun:test";
import { tcpHeader } from "../../test/helpers/stripe-ports.ts";
import { FakeChannel, fakeTunnelParts } from "./_fake-channel.ts";
import { FakeTun } from "./_fake-tun.ts";
import { FakeClock, settle } from "./_fake-tunnel-clock.ts";
import { flowHash, pickStripe } from "./flow-hash.ts";
import { CAPABILITY_IPV6, CAPABILITY_STRIPES, CloseReason, encodeHello, encodePacket, encodeStripeJoined, type HelloFields } from "./framing.ts";
import { startTunnel, type Tunnel } from "./tunnel-session.ts";

const HELLO_1_1: HelloFields = {
  version: { major: 1, minor: 1 },
  capabilities: CAPABILITY_STRIPES,
  mtu: 1400,
  clientAddress: "100.64.0.9",
  agentAddress: "100.64.0.8",
  sessionNonce: new Uint8Array(16),
  agentVersion: "test-agent",
};
const JOINED = encodeStripeJoined({ clientAddress: "100.64.0.3", agentAddress: "100.64.0.2" });

interface Rig {
  tunnel: Tunnel;
  clock: FakeClock;
  channels: FakeChannel[];
  tuns: FakeTun[];
}

function rig(sessions: number): Rig {
  const { clock, channels, tuns, openChannel, openTun } = fakeTunnelParts();
  const tunnel = startTunnel({
    openChannel,
    openTun,
    cidrs: ["10.99.0.0/24"],
    mtu: 1400,
    clock,
    hostname: "laptop.test",
    sessions,
  });
  return { tunnel, clock, channels, tuns };
}

async function hello(channel: FakeChannel, fields: HelloFields = HELLO_1_1): Promise<void> {
  channel.handshake();
  await settle();
  channel.deliver(encodeHello(fields));
  await settle();
}

async function join(channel: FakeChannel): Promise<void> {
  await hello(channel);
  channel.deliver(JOINED);
  await settle();
}

/** A TCP packet of flow `port` from the client to a vpc host (or back, with `reply`). */
const flow = (port: number, reply = false): Uint8Array => {
  const header = reply ? tcpHeader("10.99.0.2", 443, "100.64.0.3", port) : tcpHeader("100.64.0.3", port, "10.99.0.2", 443);
  const packet = new Uint8Array(100);
  packet.set(header);
  return packet;
};
const packetsOn = (channel: FakeChannel) => channel.frames().filter((f) => f.type === "packet").length;
const livesOn = (channel: FakeChannel) => channel.frames().flatMap((f) => (f.type === "stripes_live" ? [f.mask] : []));
const expected = (port: number, live: number[]) => pickStripe(flowHash(flow(port))!, live)!;
const PORTS = Array.from({ length: 60 }, (_, i) => 40000 + i);

describe("striped sessions coming up", () => {
  test("each session answers HELLO at once with its stripe index and the shared client id; the TUN opens on STRIPE_JOINED with its pair", async () => {
    const r = rig(3);
    expect(r.channels).toHaveLength(3);
    await hello(r.channels[0]!);
    const [ack] = r.channels[0]!.frames();
    expect(ack).toMatchObject({ type: "hello_ack", version: { major: 1, minor: 1 }, capabilities: CAPABILITY_STRIPES, stripeIndex: 0, stripeCount: 3 });
    expect(r.tuns).toHaveLength(0);
    r.channels[0]!.deliver(JOINED);
    await settle();
    expect(await r.tunnel.ready).toMatchObject({ interface: "cpx0", clientAddress: "100.64.0.3", agentAddress: "100.64.0.2" });
    await join(r.channels[1]!);
    await join(r.channels[2]!);
    expect(r.tuns).toHaveLength(1);
    const acks = r.channels.map((c) => c.frames().find((f) => f.type === "hello_ack"));
    expect(acks.map((a) => a?.type === "hello_ack" && a.stripeIndex)).toEqual([0, 1, 2]);
    const ids = acks.map((a) => (a?.type === "hello_ack" ? Buffer.from(a.clientId).toString("hex") : ""));
    expect(new Set(ids).size).toBe(1);
    // The live set grew 1 → 3 sessions, and every live session heard it.
    expect(livesOn(r.channels[0]!)).toEqual([0b1, 0b11, 0b111]);
    expect(livesOn(r.channels[2]!)).toEqual([0b111]);
    expect(r.tunnel.status().stripes.map((s) => [s.index, s.state, s.sessionId])).toEqual([
      [0, "up", "session-1"],
      [1, "up", "session-2"],
      [2, "up", "session-3"],
    ]);
  });

  test("two sessions coming up at once share one TUN", async () => {
    const r = rig(2);
    await hello(r.channels[0]!);
    await hello(r.channels[1]!);
    r.channels[0]!.deliver(JOINED);
    r.channels[1]!.deliver(JOINED);
    await settle();
    expect(r.tuns).toHaveLength(1);
    expect(r.tunnel.status().stripes.map((s) => s.state)).toEqual(["up", "up"]);
  });

  test("against an agent without stripes (1.0) the first session works as before and the others stay closed, saying why", async () => {
    const r = rig(3);
    const old = { ...HELLO_1_1, version: { major: 1, minor: 0 }, capabilities: 0 };
    for (const channel of r.channels) await hello(channel, old);
    expect(r.channels[0]!.frames()[0]).toMatchObject({ type: "hello_ack", version: { major: 1, minor: 0 }, capabilities: 0, stripeIndex: 0, stripeCount: 1 });
    expect(r.tuns[0]!.options).toMatchObject({ address: "100.64.0.9", peer: "100.64.0.8" });
    expect(r.channels[1]!.frames()).toEqual([{ type: "close", reason: CloseReason.Normal, text: "stripes not supported" }]);
    await r.clock.advance(40_000);
    expect(r.channels).toHaveLength(3);
    const status = r.tunnel.status();
    expect(status.state).toBe("up");
    expect(status.stripes.map((s) => s.state)).toEqual(["up", "down", "down"]);
    expect(status.stripes[1]!.lastError).toBe("the agent (credproxy test-agent, tunnel protocol 1.0) does not support several sessions per tunnel");
  });
});

describe("packets over striped sessions", () => {
  test("flows spread over the sessions by their hash, every packet of a flow on the same one, counted per session", async () => {
    const r = rig(3);
    for (const channel of r.channels) await join(channel);
    for (let round = 0; round < 3; round++) for (const port of PORTS) r.tuns[0]!.read(flow(port));
    const want = [0, 1, 2].map((i) => PORTS.filter((p) => expected(p, [0, 1, 2]) === i).length * 3);
    expect(r.channels.map(packetsOn)).toEqual(want);
    for (const n of want) expect(n).toBeGreaterThan(0);
    const status = r.tunnel.status();
    expect(status.stripes.map((s) => s.packetsSent)).toEqual(want);
    expect(status.stripes.map((s) => s.bytesSent)).toEqual(want.map((n) => n * 100));
    expect(status.packetsSent).toBe(PORTS.length * 3);
  });

  test("packets from the agent on any session reach the TUN and count for that session", async () => {
    const r = rig(2);
    for (const channel of r.channels) await join(channel);
    r.channels[1]!.deliver(encodePacket(flow(40000, true)));
    r.channels[1]!.deliver(encodePacket(flow(40001, true)));
    r.channels[0]!.deliver(encodePacket(flow(40002, true)));
    expect(r.tuns[0]!.written).toHaveLength(3);
    expect(r.tunnel.status().stripes.map((s) => s.packetsReceived)).toEqual([1, 2]);
  });
});

describe("failover", () => {
  test("while a session's WebSocket resumes its flows go to the others (and the agent is told), and come back after", async () => {
    const r = rig(3);
    for (const channel of r.channels) await join(channel);
    r.channels[1]!.setState("resuming");
    expect(livesOn(r.channels[0]!).at(-1)).toBe(0b101);
    expect(livesOn(r.channels[2]!).at(-1)).toBe(0b101);
    const before = r.channels.map(packetsOn);
    for (const port of PORTS) r.tuns[0]!.read(flow(port));
    const during = r.channels.map((c, i) => packetsOn(c) - before[i]!);
    expect(during[1]).toBe(0);
    expect(during[0]! + during[2]!).toBe(PORTS.length);
    // Flows that were not on the resuming session stay where they were.
    for (const port of PORTS) if (expected(port, [0, 1, 2]) !== 1) expect(expected(port, [0, 2])).toBe(expected(port, [0, 1, 2]));
    expect(r.tunnel.status().stripes[1]!.state).toBe("resuming");
    r.channels[1]!.setState("up");
    expect(livesOn(r.channels[1]!).at(-1)).toBe(0b111);
    const mid = r.channels.map(packetsOn);
    for (const port of PORTS) r.tuns[0]!.read(flow(port));
    expect(packetsOn(r.channels[1]!) - mid[1]!).toBe(PORTS.filter((p) => expected(p, [0, 1, 2]) === 1).length);
  });

  test("a session that ends is restarted on its own after 1 s with the same index; meanwhile its flows use the others", async () => {
    const r = rig(2);
    for (const channel of r.channels) await join(channel);
    r.channels[0]!.end("channel_closed");
    await settle();
    expect(r.tunnel.status()).toMatchObject({ state: "up", stripes: [{ index: 0, state: "connecting" }, { index: 1, state: "up" }] });
    for (const port of PORTS) r.tuns[0]!.read(flow(port));
    expect(packetsOn(r.channels[1]!)).toBe(PORTS.length);
    expect(r.tunnel.status().drops.noSession).toBe(0);
    await r.clock.advance(1000);
    expect(r.channels).toHaveLength(3);
    await join(r.channels[2]!);
    expect(r.channels[2]!.frames()[0]).toMatchObject({ type: "hello_ack", stripeIndex: 0, stripeCount: 2 });
    expect(r.tuns).toHaveLength(1);
    expect(r.tunnel.status()).toMatchObject({ reconnects: 1, sessions: 3, stripes: [{ state: "up", sessionId: "session-3", reconnects: 1 }, { state: "up", reconnects: 0 }] });
  });

  test("with every session resuming, packets still go to one by their flow (its channel queues them)", async () => {
    const r = rig(2);
    for (const channel of r.channels) await join(channel);
    for (const channel of r.channels) channel.setState("resuming");
    for (const port of PORTS) r.tuns[0]!.read(flow(port));
    expect(r.channels.map(packetsOn)).toEqual([0, 1].map((i) => PORTS.filter((p) => expected(p, [0, 1]) === i).length));
    expect(r.tunnel.status()).toMatchObject({ state: "resuming", drops: { noSession: 0 } });
  });

  test("no STRIPE_JOINED within 10 s of HELLO_ACK ends that session with a Timeout CLOSE and restarts it", async () => {
    const r = rig(2);
    await join(r.channels[0]!);
    await hello(r.channels[1]!);
    await r.clock.advance(10_000);
    expect(r.channels[1]!.frames().at(-1)).toEqual({ type: "close", reason: CloseReason.Timeout, text: "no STRIPE_JOINED" });
    expect(r.tunnel.status().stripes[1]!.lastError).toBe("no STRIPE_JOINED from the agent within 10 s");
    await r.clock.advance(1000);
    expect(r.channels).toHaveLength(3);
  });

  test("close() ends every session and removes the one TUN", async () => {
    const r = rig(3);
    for (const channel of r.channels) await join(channel);
    await r.tunnel.close();
    expect(r.channels.every((c) => c.closedByClient)).toBe(true);
    expect(r.channels.map((c) => c.frames().at(-1))).toEqual(Array(3).fill({ type: "close", reason: CloseReason.Normal, text: "tunnel down" }));
    expect(r.tuns[0]!.closed).toBe(true);
    await r.clock.advance(60_000);
    expect(r.channels).toHaveLength(3);
  });
});

describe("striped sessions with IPv6 (protocol 1.2)", () => {
  test("the TUN takes the IPv6 pair of STRIPE_JOINED (the client's shared one), not the one HELLO offered", async () => {
    const { clock, channels, tuns, openChannel, openTun } = fakeTunnelParts();
    const tunnel = startTunnel({ openChannel, openTun, cidrs: ["10.99.0.0/24", "fd7a::/64"], mtu: 1400, clock, hostname: "laptop.test", sessions: 2 });
    const hello6: HelloFields = { ...HELLO_1_1, version: { major: 1, minor: 2 }, capabilities: CAPABILITY_STRIPES | CAPABILITY_IPV6, ipv6: { clientAddress6: "fd63::9", agentAddress6: "fd63::8" } };
    await hello(channels[0]!, hello6);
    expect(channels[0]!.frames()[0]).toMatchObject({ type: "hello_ack", capabilities: CAPABILITY_STRIPES | CAPABILITY_IPV6 });
    channels[0]!.deliver(encodeStripeJoined({ clientAddress: "100.64.0.3", agentAddress: "100.64.0.2", ipv6: { clientAddress6: "fd63::3", agentAddress6: "fd63::2" } }));
    await settle();
    expect(tuns[0]!.options).toMatchObject({ address: "100.64.0.3", routes: ["10.99.0.0/24", "fd7a::/64"], address6: "fd63::3", peer6: "fd63::2" });
    expect(tunnel.status().ipv6).toBe("fd63::3 -> fd63::2");
    await tunnel.close();
  });
});
