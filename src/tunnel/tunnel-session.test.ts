/**
 * The tunnel's session logic with a fake data channel, a fake TUN and a hand-driven clock:
 * HELLO timeout, the drop-tail queue, the destination filter, restarts with backoff while
 * the TUN stays, and the counters. The real channel and TUN are tested in their own files.
 */
import { describe, expect, test } from "bun:test";
import {
  CAPABILITY_IN_FLIGHT_BOUND,
  CloseReason,
  encodeBoundStats,
  encodeClose,
  encodeHello,
  encodePacket,
  encodePong,
  FrameDecoder,
  type Frame,
  type HelloFields,
} from "./framing.ts";
import { FakeClock, settle } from "./_fake-tunnel-clock.ts";
import { FakeChannel, fakeTunnelParts } from "./_fake-channel.ts";
import { FakeTun } from "./_fake-tun.ts";
import { startTunnel, type Tunnel, type TunnelSessionOptions } from "./tunnel-session.ts";

const HELLO: HelloFields = {
  version: { major: 1, minor: 0 },
  capabilities: 0,
  mtu: 1400,
  clientAddress: "100.64.0.2",
  agentAddress: "100.64.0.1",
  sessionNonce: new Uint8Array(16),
  agentVersion: "test-agent",
};
/** A 1.2 agent that forwards IPv6. */
const HELLO6: HelloFields = { ...HELLO, version: { major: 1, minor: 2 }, capabilities: 0x5, ipv6: { clientAddress6: "fd63::3", agentAddress6: "fd63::2" } };

interface Rig {
  tunnel: Tunnel;
  clock: FakeClock;
  channels: FakeChannel[];
  tuns: FakeTun[];
}

function rig(overrides: Partial<TunnelSessionOptions> = {}): Rig {
  const { clock, channels, tuns, openChannel, openTun } = fakeTunnelParts();
  const tunnel = startTunnel({
    openChannel,
    openTun,
    cidrs: ["10.99.0.0/24", "fd00:99::/64"],
    mtu: 1400,
    clock,
    hostname: "laptop.test",
    ...overrides,
  });
  return { tunnel, clock, channels, tuns };
}

/** Handshake and HELLO on the newest channel; resolves once the client has answered. */
async function bringUp(r: Rig, hello: HelloFields = HELLO): Promise<FakeChannel> {
  const channel = r.channels.at(-1)!;
  channel.handshake();
  await settle();
  channel.deliver(encodeHello(hello));
  await settle();
  return channel;
}

function ipv4(destination: string, length = 40): Uint8Array {
  const packet = new Uint8Array(length);
  packet[0] = 0x45;
  packet.set(destination.split(".").map(Number), 16);
  return packet;
}

function ipv6(destination: Uint8Array): Uint8Array {
  const packet = new Uint8Array(60);
  packet[0] = 0x60;
  packet.set(destination, 24);
  return packet;
}

const sentPackets = (channel: FakeChannel) => channel.frames().filter((f) => f.type === "packet").length;

describe("a tunnel session coming up", () => {
  test("sends nothing before HELLO, then opens the TUN with HELLO's addresses and a route per CIDR, and answers HELLO_ACK", async () => {
    const r = rig();
    r.channels[0]!.handshake();
    await settle();
    expect(r.channels[0]!.written).toEqual([]);
    expect(r.tunnel.status().state).toBe("connecting");
    const channel = await bringUp(r);
    const up = await r.tunnel.ready;
    // A 1.0 agent has no IPv6: the IPv6 CIDR is not routed, and the reason is kept.
    const ipv6 = { unavailable: "the agent (credproxy test-agent, tunnel protocol 1.0) does not support IPv6" };
    expect(up).toEqual({ interface: "cpx0", clientAddress: "100.64.0.2", agentAddress: "100.64.0.1", mtu: 1400, routes: ["10.99.0.0/24"], sessionId: "session-1", ipv6 });
    expect(r.tuns[0]!.options).toEqual({ mtu: 1400, address: "100.64.0.2", peer: "100.64.0.1", routes: ["10.99.0.0/24"] });
    const [ack] = channel.frames();
    expect(ack).toMatchObject({ type: "hello_ack", stripeIndex: 0, stripeCount: 1, hostname: "laptop.test", cidrs: ["10.99.0.0/24", "fd00:99::/64"] });
    expect(r.tunnel.status()).toMatchObject({ state: "up", sessionId: "session-1", interface: "cpx0", sessions: 1, reconnects: 0 });
  });

  test("with an agent's IPv6 pair, the TUN gets it and the IPv6 CIDRs are routed too", async () => {
    const r = rig();
    const channel = await bringUp(r, HELLO6);
    expect(r.tuns[0]!.options).toEqual({ mtu: 1400, address: "100.64.0.2", peer: "100.64.0.1", routes: ["10.99.0.0/24", "fd00:99::/64"], address6: "fd63::3", peer6: "fd63::2" });
    expect(channel.frames()[0]).toMatchObject({ type: "hello_ack", capabilities: 0x4 });
    expect(r.tunnel.status()).toMatchObject({ routes: ["10.99.0.0/24", "fd00:99::/64"], ipv6: "fd63::3 -> fd63::2" });
  });

  test("an agent that cannot forward IPv6 says why, and the IPv6 CIDRs stay off the TUN", async () => {
    const r = rig();
    await bringUp(r, { ...HELLO6, capabilities: 0x1, ipv6: { unavailable: "the instance has no IPv6 default route" } });
    expect(r.tuns[0]!.options.routes).toEqual(["10.99.0.0/24"]);
    expect(r.tuns[0]!.options.address6).toBeUndefined();
    expect(r.tunnel.status().ipv6).toBe("not available: the instance has no IPv6 default route");
  });

  test("takes the lower of its MTU and the agent's", async () => {
    const r = rig({ mtu: 1400 });
    await bringUp(r, { ...HELLO, mtu: 1280 });
    expect((await r.tunnel.ready).mtu).toBe(1280);
    expect(r.tuns[0]!.options.mtu).toBe(1280);
  });

  test("without a HELLO within 10 s of the handshake, closes that session with a Timeout CLOSE and starts a new one", async () => {
    const r = rig();
    r.channels[0]!.handshake();
    await settle();
    await r.clock.advance(9_999);
    expect(r.channels).toHaveLength(1);
    await r.clock.advance(1);
    expect(r.channels[0]!.frames()).toEqual([{ type: "close", reason: CloseReason.Timeout, text: "no HELLO" }]);
    expect(r.channels[0]!.closedByClient).toBe(true);
    expect(r.tunnel.status().lastError).toBe("no HELLO from the agent within 10 s");
    await r.clock.advance(1000);
    expect(r.channels).toHaveLength(2);
    await bringUp(r);
    expect((await r.tunnel.ready).sessionId).toBe("session-2");
  });

  test("before it was ever up, three failed starts end the tunnel with the last error", async () => {
    const r = rig();
    for (let i = 0; i < 3; i++) {
      r.channels.at(-1)!.handshake();
      await settle();
      await r.clock.advance(10_000);
      await r.clock.advance(30_000);
    }
    expect(r.channels).toHaveLength(3);
    await expect(r.tunnel.ready).rejects.toThrow("no HELLO from the agent within 10 s");
    expect((await r.tunnel.closed).error?.message).toBe("no HELLO from the agent within 10 s");
    expect(r.tunnel.status().state).toBe("down");
  });

  test("a CLOSE refusing the client before the first session was up ends the tunnel at once with the agent's words", async () => {
    const r = rig();
    r.channels[0]!.handshake();
    await settle();
    r.channels[0]!.deliver(encodeClose(CloseReason.NotAllowed, "10.99.0.0/24 is not in --allow-cidr"));
    await expect(r.tunnel.ready).rejects.toThrow("the agent closed the tunnel: 10.99.0.0/24 is not in --allow-cidr");
    expect(r.channels).toHaveLength(1);
  });

  test("a TUN that cannot be opened ends the tunnel with the TUN's error", async () => {
    const r = rig({ openTun: async () => Promise.reject(new Error("EPERM")) });
    await bringUp(r);
    await expect(r.tunnel.ready).rejects.toThrow("could not open the TUN device: EPERM");
  });
});

describe("packets through an up session", () => {
  test("a TUN packet to a routed CIDR goes out as one PACKET frame, and one from the agent is written to the TUN", async () => {
    const r = rig();
    const channel = await bringUp(r);
    const packet = ipv4("10.99.0.7", 100);
    r.tuns[0]!.read(packet);
    expect(channel.written.at(-1)).toEqual(encodePacket(packet));
    const reply = ipv4("100.64.0.2", 60);
    channel.deliver(encodePacket(reply));
    expect(r.tuns[0]!.written).toEqual([reply]);
    expect(r.tunnel.status()).toMatchObject({ packetsSent: 1, bytesSent: 100, packetsReceived: 1, bytesReceived: 60 });
  });

  test("only packets to a --cidr or the agent's addresses (IPv4 and IPv6) are sent; router solicitations and other destinations are dropped and counted", async () => {
    const r = rig();
    const channel = await bringUp(r, HELLO6);
    const tun = r.tuns[0]!;
    const routerSolicitation = ipv6(Uint8Array.from([0xff, 0x02, ...new Array(13).fill(0), 0x02]));
    const inV6Cidr = ipv6(Uint8Array.from([0xfd, 0x00, 0x00, 0x99, ...new Array(11).fill(0), 0x05]));
    const toAgent6 = ipv6(Uint8Array.from([0xfd, 0x63, ...new Array(13).fill(0), 0x02]));
    for (const packet of [ipv4("10.99.0.255"), ipv4("100.64.0.1"), inV6Cidr, toAgent6, ipv4("10.99.1.1"), ipv4("8.8.8.8"), routerSolicitation, Uint8Array.of(0x45, 0)]) tun.read(packet);
    expect(sentPackets(channel)).toBe(4);
    expect(r.tunnel.status().drops).toMatchObject({ filtered: 4, queueFull: 0 });
  });

  test("a packet larger than the agreed MTU is dropped and counted as oversize", async () => {
    const r = rig();
    const channel = await bringUp(r, { ...HELLO, mtu: 1280 });
    r.tuns[0]!.read(ipv4("10.99.0.7", 1281));
    r.tuns[0]!.read(ipv4("10.99.0.7", 1280));
    expect(sentPackets(channel)).toBe(1);
    expect(r.tunnel.status().drops.oversize).toBe(1);
  });

  test("when the channel refuses a write (its in-flight bound is full) the packet is dropped whole and counted; later ones go again", async () => {
    const r = rig();
    const channel = await bringUp(r);
    channel.refuse = true;
    for (let i = 0; i < 5; i++) r.tuns[0]!.read(ipv4("10.99.0.7", 1400));
    channel.refuse = false;
    r.tuns[0]!.read(ipv4("10.99.0.8", 1400));
    expect(sentPackets(channel)).toBe(1);
    // Past HELLO_ACK and the first PING, only the one packet that was not refused.
    expect(channel.written.slice(2).map((bytes) => bytes.length)).toEqual([1403]);
    expect(r.tunnel.status()).toMatchObject({ packetsSent: 1, bytesSent: 1400, drops: { queueFull: 5 } });
  });

  test("with an agent that offers the in-flight bound: RX_REPORT every 16 KiB received, else 10 ms after the first unreported byte; BOUND_STATS shows in the status", async () => {
    const r = rig();
    const channel = await bringUp(r, { ...HELLO, capabilities: CAPABILITY_IN_FLIGHT_BOUND });
    expect(channel.frames()[0]).toMatchObject({ type: "hello_ack", capabilities: CAPABILITY_IN_FLIGHT_BOUND });
    const reports = () => channel.frames().flatMap((f) => (f.type === "rx_report" ? [f.receivedBytes] : []));
    const reply = ipv4("100.64.0.2", 1000);
    for (let i = 0; i < 17; i++) channel.deliver(encodePacket(reply));
    expect(reports()).toEqual([17_000]);
    channel.deliver(encodePacket(reply));
    expect(reports()).toEqual([17_000]);
    await r.clock.advance(10);
    expect(reports()).toEqual([17_000, 18_000]);
    await r.clock.advance(100);
    expect(reports()).toHaveLength(2);
    channel.deliver(encodeBoundStats({ drops: 3, dropBytes: 4200, limitBytes: 16384, inFlightBytes: 9000, rateBytesPerSecond: 800_000, minRttMicros: 4500 }));
    const status = r.tunnel.status();
    expect(status.drops.inFlightBound).toBe(3);
    expect(status.stripes[0]!.inFlightBound).toEqual({ reportsSent: 2, drops: 3, limitBytes: 16384, inFlightBytes: 9000, rateBytesPerSecond: 800_000, minRttMs: 4.5 });
  });

  test("an agent without the in-flight bound gets no RX_REPORT, and the status has none", async () => {
    const r = rig();
    const channel = await bringUp(r);
    for (let i = 0; i < 40; i++) channel.deliver(encodePacket(ipv4("100.64.0.2", 1000)));
    await r.clock.advance(100);
    expect(channel.frames().filter((f) => f.type === "rx_report")).toEqual([]);
    expect(r.tunnel.status()).toMatchObject({ drops: { inFlightBound: 0 }, stripes: [{ inFlightBound: undefined }] });
  });

  test("a PING at once and then every 15 s gives the RTT from its PONG, and the agent's PING is answered", async () => {
    const r = rig();
    const channel = await bringUp(r);
    const first = channel.frames().filter((f) => f.type === "ping");
    expect(first).toEqual([expect.objectContaining({ type: "ping", id: 1 })]);
    expect(r.tunnel.status().rttMs).toBeUndefined();
    await r.clock.advance(5);
    if (first[0]?.type !== "ping") throw new Error("no first ping");
    channel.deliver(encodePong(first[0]));
    expect(r.tunnel.status().rttMs).toBe(5);
    await r.clock.advance(14_995);
    const ping = channel.frames().find((f) => f.type === "ping" && f.id === 2);
    expect(ping).toMatchObject({ type: "ping", id: 2 });
    await r.clock.advance(42);
    if (ping?.type !== "ping") throw new Error("no ping");
    channel.deliver(encodePong(ping));
    expect(r.tunnel.status().rttMs).toBe(42);
    channel.deliver(Uint8Array.of(0, 16, 0x20, ...new Array(16).fill(0)));
    expect(channel.frames().filter((f) => f.type === "pong")).toHaveLength(1);
  });
});

describe("restarts", () => {
  test("no PONG for 60 s closes the session and starts a new one, keeping the TUN when the addresses are unchanged", async () => {
    const r = rig();
    const first = await bringUp(r);
    await r.clock.advance(60_000);
    expect(first.frames().at(-1)).toEqual({ type: "close", reason: CloseReason.Timeout, text: "no PONG" });
    expect(first.closedByClient).toBe(true);
    expect(r.tunnel.status()).toMatchObject({ state: "connecting", lastError: "no PONG from the agent for 60 s" });
    r.tuns[0]!.read(ipv4("10.99.0.7"));
    expect(r.tunnel.status().drops.noSession).toBe(1);
    await r.clock.advance(1000);
    await bringUp(r);
    expect(r.tuns).toHaveLength(1);
    expect(r.tuns[0]!.closed).toBe(false);
    expect(r.tunnel.status()).toMatchObject({ state: "up", sessionId: "session-2", sessions: 2, reconnects: 1 });
  });

  test("a new session with other addresses reopens the TUN", async () => {
    const r = rig();
    const first = await bringUp(r);
    first.end("channel_closed");
    await settle();
    await r.clock.advance(1000);
    await bringUp(r, { ...HELLO, clientAddress: "100.64.0.6", agentAddress: "100.64.0.5" });
    expect(r.tuns).toHaveLength(2);
    expect(r.tuns[0]!.closed).toBe(true);
    expect(r.tuns[1]!.options).toMatchObject({ address: "100.64.0.6", peer: "100.64.0.5" });
    expect(r.tunnel.status().interface).toBe("cpx1");
  });

  test("onUp hears of every session that comes up, with its TUN (so --dns can follow a new one)", async () => {
    const ups: string[] = [];
    const r = rig({ onUp: (up) => ups.push(`${up.interface} ${up.clientAddress} -> ${up.agentAddress}`) });
    const first = await bringUp(r);
    first.end("channel_closed");
    await settle();
    await r.clock.advance(1000);
    await bringUp(r, { ...HELLO, clientAddress: "100.64.0.6", agentAddress: "100.64.0.5" });
    expect(ups).toEqual([`cpx0 ${HELLO.clientAddress} -> ${HELLO.agentAddress}`, "cpx1 100.64.0.6 -> 100.64.0.5"]);
  });

  test("sessions that keep ending are restarted after 1, 2, 4, … s, capped at 30 s, and the backoff resets once one is up", async () => {
    const r = rig();
    await bringUp(r);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      r.channels.at(-1)!.end("channel_closed");
      await settle();
      delays.push(...r.clock.pending());
      await r.clock.advance(r.clock.pending()[0]!);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    await bringUp(r);
    r.channels.at(-1)!.end("channel_closed");
    await settle();
    expect(r.clock.pending()).toEqual([1000]);
    expect(r.tunnel.status().reconnects).toBe(8);
  });

  test("a framing error from the agent sends CLOSE with the protocol-error reason and restarts", async () => {
    const r = rig();
    const channel = await bringUp(r);
    channel.deliver(Uint8Array.of(0, 1, 0x7f, 0));
    expect(channel.frames().at(-1)).toMatchObject({ type: "close", reason: CloseReason.ProtocolError });
    await r.clock.advance(1000);
    expect(r.channels).toHaveLength(2);
  });
});

describe("closing", () => {
  test("close() sends CLOSE Normal, closes the channel (TerminateSession), removes the TUN and starts nothing more", async () => {
    const r = rig();
    const channel = await bringUp(r);
    const end = await r.tunnel.close();
    expect(end).toEqual({ reason: "closed by the client" });
    expect(channel.frames().at(-1)).toEqual({ type: "close", reason: CloseReason.Normal, text: "tunnel down" });
    expect(channel.closedByClient).toBe(true);
    expect(r.tuns[0]!.closed).toBe(true);
    expect(r.tunnel.status().state).toBe("down");
    await r.clock.advance(120_000);
    expect(r.channels).toHaveLength(1);
  });

  test("close() while waiting to restart cancels the restart", async () => {
    const r = rig();
    await bringUp(r);
    r.channels[0]!.end("channel_closed");
    await settle();
    await r.tunnel.close();
    await r.clock.advance(60_000);
    expect(r.channels).toHaveLength(1);
    expect(r.tuns[0]!.closed).toBe(true);
  });

  test("resends of ended sessions still count in the status", async () => {
    const r = rig();
    const first = await bringUp(r);
    first.resends = 4;
    first.end("channel_closed");
    await settle();
    await r.clock.advance(1000);
    const second = await bringUp(r);
    second.resends = 3;
    expect(r.tunnel.status().resends).toBe(7);
  });
});
