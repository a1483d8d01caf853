/**
 * One client session of the agent with an in-memory connection (standing for the SSM agent's
 * TCP socket), a fake TUN and a hand-driven clock: the handshake, the relay both ways with its
 * checks, PING/PONG, the backlog bound, and that every way a session ends sends the right
 * CLOSE and gives back the TUN and the address pair.
 */
import { CLIENT_HELLO_ACK as ACK, clientHelloAck } from "./_client-hello-ack.ts";
import { describe, expect, test } from "bun:test";
import { udpPacket } from "../../test/helpers/ip-packets.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { FakeTun } from "../tunnel/_fake-tun.ts";
import { FakeClock, settle } from "../tunnel/_fake-tunnel-clock.ts";
import {
  CAPABILITY_IN_FLIGHT_BOUND,
  CAPABILITY_STRIPES,
  CloseReason,
  encodeClose,
  encodePacket,
  encodePing,
  encodePong,
  encodeRxReport,
  FrameDecoder,
  type Frame,
  type HelloFrame,
} from "../tunnel/framing.ts";
import type { TunOptions } from "../net/tun-device.ts";
import { createAddressPool, type AddressPool } from "./address-pool.ts";
import { FakeConnection } from "./_fake-connection.ts";
import { AgentSession, type AgentSessionOptions } from "./agent-session.ts";

interface Rig {
  session: AgentSession;
  connection: FakeConnection;
  clock: FakeClock;
  pool: AddressPool;
  tuns: FakeTun[];
}

function rig(overrides: Partial<AgentSessionOptions> = {}, pool = createAddressPool("100.64.0.0/24")): Rig {
  const connection = new FakeConnection();
  const clock = new FakeClock();
  const tuns: FakeTun[] = [];
  const session = new AgentSession({
    connection,
    pool,
    openTun: async (options: TunOptions) => {
      const tun = new FakeTun(`cpa${tuns.length}`, options);
      tuns.push(tun);
      return tun;
    },
    clock,
    ...overrides,
  });
  session.start();
  return { session, connection, clock, pool, tuns };
}


async function up(r: Rig): Promise<HelloFrame> {
  r.session.receive(ACK);
  await settle();
  return r.connection.of("hello")[0]!;
}

const udp = (from: string, to: string, bytes = 16) => udpPacket({ address: from, port: 40000 }, { address: to, port: 53 }, new Uint8Array(bytes));

describe("an agent session's handshake", () => {
  test("a new connection gets HELLO first, with the first free address pair, the MTU and a fresh nonce", () => {
    const { connection, pool } = rig();
    const [hello] = connection.frames;
    expect(hello).toMatchObject({ type: "hello", version: { major: 1, minor: 2 }, capabilities: CAPABILITY_STRIPES | CAPABILITY_IN_FLIGHT_BOUND, mtu: 1400, agentAddress: "100.64.0.2", clientAddress: "100.64.0.3" });
    expect((hello as HelloFrame).sessionNonce.some((b) => b !== 0)).toBe(true);
    expect(pool.inUse()).toBe(1);
  });

  test("after HELLO_ACK it opens a TUN with its own address and the client's as the peer, and no routes", async () => {
    const r = rig();
    await up(r);
    expect(r.tuns[0]!.options).toEqual({ name: "cpa%d", mtu: 1400, address: "100.64.0.2", peer: "100.64.0.3", routes: [] });
    expect(r.session.stats()).toMatchObject({ state: "up", interface: "cpa0", hostname: "laptop.test" });
  });

  test("with no HELLO_ACK within 10 s it sends CLOSE Timeout, ends the connection and gives the addresses back", async () => {
    const r = rig();
    await r.clock.advance(10_000);
    expect(r.connection.of("close")).toEqual([expect.objectContaining({ reason: CloseReason.Timeout })]);
    expect(r.connection.ended).toBe(true);
    await r.session.ended;
    expect(r.pool.inUse()).toBe(0);
    expect(r.tuns).toEqual([]);
  });

  test("when every address pair is in use, the client gets CLOSE NotAllowed saying so, and no HELLO", async () => {
    const pool = createAddressPool("100.64.0.6/31");
    rig({}, pool);
    const second = rig({}, pool);
    expect(second.connection.frames).toEqual([expect.objectContaining({ type: "close", reason: CloseReason.NotAllowed })]);
    expect(second.connection.of("close")[0]!.text).toContain("no free tunnel addresses (pool 100.64.0.6/31, 1 clients)");
    expect((await second.session.ended).reason).toContain("no free addresses");
  });

  test("a TUN that cannot be opened ends the session with CLOSE InternalError and frees the pair", async () => {
    const r = rig({ openTun: () => Promise.reject(new Error("EPERM")) });
    await up(r);
    expect(r.connection.of("close")).toEqual([expect.objectContaining({ reason: CloseReason.InternalError })]);
    await r.session.ended;
    expect(r.pool.inUse()).toBe(0);
  });
});

describe("packets through an up session", () => {
  test("a client packet from its own address is written to the TUN; a TUN packet for the client goes back as a PACKET", async () => {
    const r = rig();
    await up(r);
    const out = udp("100.64.0.3", "10.99.0.2");
    r.session.receive(encodePacket(out));
    expect(r.tuns[0]!.written).toEqual([out]);
    const back = udp("10.99.0.2", "100.64.0.3");
    r.tuns[0]!.read(back);
    expect(r.connection.of("packet").map((p) => p.packet)).toEqual([back]);
    expect(r.session.stats()).toMatchObject({ packetsFromClient: 1, packetsToClient: 1 });
  });

  test("packets sent right after HELLO_ACK, while the TUN is still opening, are written once it is open", async () => {
    const r = rig();
    const first = udp("100.64.0.3", "10.99.0.2");
    r.session.receive(new Uint8Array([...ACK, ...encodePacket(first)]));
    await settle();
    expect(r.tuns[0]!.written).toEqual([first]);
  });

  test("a forged source, a destination outside --allow-cidr and an oversize packet are dropped and counted", async () => {
    const r = rig({ allowCidrs: [parseCidr("10.99.0.0/24") as Cidr], mtu: 1000 });
    await up(r);
    r.session.receive(encodePacket(udp("100.64.0.5", "10.99.0.2")));
    r.session.receive(encodePacket(udp("100.64.0.3", "10.1.0.1")));
    r.session.receive(encodePacket(udp("100.64.0.3", "10.99.0.2", 1200)));
    expect(r.tuns[0]!.written).toEqual([]);
    expect(r.session.stats().drops).toMatchObject({ spoofed: 1, notAllowed: 1, oversize: 1 });
  });

  test("what the TUN reads for any other address (IPv6 chatter, another client) is not sent to this client", async () => {
    const r = rig();
    await up(r);
    r.tuns[0]!.read(udp("10.99.0.2", "100.64.0.5"));
    const v6 = new Uint8Array(48);
    v6[0] = 0x60;
    r.tuns[0]!.read(v6);
    expect(r.connection.of("packet")).toEqual([]);
    expect(r.session.stats().drops.filtered).toBe(2);
  });

  test("while the SSM agent's connection is backed up past 64 KiB, packets toward the client are dropped, but a PONG still goes", async () => {
    const r = rig();
    await up(r);
    r.connection.room = 0;
    for (let i = 0; i < 100; i++) r.tuns[0]!.read(udp("10.99.0.2", "100.64.0.3", 1000));
    // 1031-byte frames: the 64th takes the backlog past 64 KiB, so the 65th is the first dropped.
    const { drops, packetsToClient } = r.session.stats();
    expect(packetsToClient).toBe(64);
    expect(drops.backlog).toBe(36);
    r.session.receive(encodePing(7, 123));
    r.connection.room = Infinity;
    r.session.drained();
    expect(r.connection.of("packet").length).toBe(64);
    expect(r.connection.of("pong")).toEqual([{ type: "pong", id: 7, sentAtMicros: 123 }]);
  });
});

/** HELLO_ACK from a client that accepts the in-flight bound (and so sends RX_REPORT). */
const REPORTING_ACK = clientHelloAck(CAPABILITY_IN_FLIGHT_BOUND, 1);

describe("the in-flight bound toward a client that reports", () => {
  async function reportingUp(overrides: Partial<AgentSessionOptions> = {}): Promise<Rig> {
    const r = rig({ inFlightBound: { floorBytes: 8000 }, ...overrides });
    r.session.receive(REPORTING_ACK);
    await settle();
    return r;
  }
  const bulk = (r: Rig, n: number) => {
    for (let i = 0; i < n; i++) r.tuns[0]!.read(udp("10.99.0.2", "100.64.0.3", 972));
  };

  test("once the client reports, packets past twice the target of bytes in flight are dropped and counted; a report makes room again", async () => {
    const r = await reportingUp();
    bulk(r, 3);
    r.session.receive(encodeRxReport(0));
    bulk(r, 20);
    // 1000-byte packets: 16 fit twice the 8000-byte floor; the rest are dropped at the agent, not queued.
    expect(r.session.stats()).toMatchObject({ packetsToClient: 16, drops: { inFlightBound: 7, backlog: 0 }, inFlightBound: { reports: 1, inFlightBytes: 16_000, limitBytes: 8000 } });
    await r.clock.advance(20);
    r.session.receive(encodeRxReport(4000));
    bulk(r, 10);
    expect(r.session.stats()).toMatchObject({ packetsToClient: 20, drops: { inFlightBound: 13 } });
  });

  test("it answers reports with BOUND_STATS at most once a second, and once more after a report that came too soon", async () => {
    const r = await reportingUp();
    bulk(r, 10);
    r.session.receive(encodeRxReport(1000));
    bulk(r, 8);
    r.session.receive(encodeRxReport(2000));
    // Before the first report all 10 went; after it 7 more fit under the hard limit.
    expect(r.connection.of("bound_stats")).toEqual([expect.objectContaining({ drops: 0, limitBytes: 8000, inFlightBytes: 9000 })]);
    expect(r.session.stats().drops.inFlightBound).toBe(1);
    // The second report came too soon: its BOUND_STATS follows when the second is up.
    await r.clock.advance(999);
    expect(r.connection.of("bound_stats")).toHaveLength(1);
    await r.clock.advance(1);
    expect(r.connection.of("bound_stats")).toEqual([expect.anything(), expect.objectContaining({ drops: 1, inFlightBytes: 15_000 })]);
  });

  test("a client without the capability never reports and gets no bound: only the backlog writer's", async () => {
    const r = rig({ inFlightBound: { floorBytes: 8000 } });
    await up(r);
    bulk(r, 20);
    expect(r.session.stats()).toMatchObject({ packetsToClient: 20, drops: { inFlightBound: 0 }, inFlightBound: undefined });
  });

  test("with the bound switched off (the benchmark's unbounded queues) HELLO does not offer it and reports are ignored", async () => {
    const r = await reportingUp({ inFlightBound: false });
    expect(r.connection.of("hello")[0]!.capabilities).toBe(CAPABILITY_STRIPES);
    r.session.receive(encodeRxReport(0));
    bulk(r, 20);
    expect(r.session.stats()).toMatchObject({ packetsToClient: 20, drops: { inFlightBound: 0 }, inFlightBound: undefined });
    expect(r.connection.of("bound_stats")).toEqual([]);
  });
});

describe("keepalive", () => {
  test("a client PING is answered with a PONG; the agent's own PING every 15 s gives the RTT", async () => {
    const r = rig();
    await up(r);
    r.session.receive(encodePing(1, 555));
    expect(r.connection.of("pong")).toEqual([{ type: "pong", id: 1, sentAtMicros: 555 }]);
    await r.clock.advance(15_000);
    const [ping] = r.connection.of("ping");
    expect(ping).toBeDefined();
    await r.clock.advance(40);
    r.session.receive(encodePong(ping!));
    expect(r.session.stats().rttMs).toBe(40);
  });

  test("60 s without a byte from the client ends the session with CLOSE Timeout", async () => {
    const r = rig();
    await up(r);
    await r.clock.advance(61_000);
    expect(r.connection.of("close")).toEqual([expect.objectContaining({ reason: CloseReason.Timeout })]);
    await r.session.ended;
    expect(r.tuns[0]!.closed).toBe(true);
  });
});

describe("every end gives back the TUN and the addresses", () => {
  test("a CLOSE from the client: no CLOSE back, the connection ended, the TUN removed, the pair free", async () => {
    const r = rig();
    await up(r);
    r.session.receive(encodeClose(CloseReason.Normal, "tunnel down"));
    const end = await r.session.ended;
    expect(end.reason).toBe("the client closed the session: tunnel down");
    expect(r.connection.of("close")).toEqual([]);
    expect({ ended: r.connection.ended, tun: r.tuns[0]!.closed, inUse: r.pool.inUse() }).toEqual({ ended: true, tun: true, inUse: 0 });
  });

  test("a framing error: CLOSE ProtocolError with the decoder's message, then everything released", async () => {
    const r = rig();
    await up(r);
    r.session.receive(new Uint8Array([0, 1, 0x77, 0]));
    expect(r.connection.of("close")).toEqual([expect.objectContaining({ reason: CloseReason.ProtocolError, text: expect.stringContaining("unknown frame type 0x77") })]);
    await r.session.ended;
    expect({ tun: r.tuns[0]!.closed, inUse: r.pool.inUse() }).toEqual({ tun: true, inUse: 0 });
  });

  test("a client that is not credproxy (garbage before HELLO_ACK) is refused the same way", async () => {
    const r = rig();
    r.session.receive(new TextEncoder().encode("SSH-2.0-OpenSSH_9.6\r\n"));
    expect(r.connection.of("close")[0]!.reason).toBe(CloseReason.ProtocolError);
    await r.session.ended;
    expect(r.pool.inUse()).toBe(0);
  });

  test("the SSM agent closing the connection releases the TUN and the pair without writing", async () => {
    const r = rig();
    await up(r);
    r.session.connectionClosed();
    await r.session.ended;
    expect({ tun: r.tuns[0]!.closed, inUse: r.pool.inUse(), closes: r.connection.of("close").length }).toEqual({ tun: true, inUse: 0, closes: 0 });
  });

  test("shutdown sends CLOSE Normal, and the connection ends once the CLOSE has been written", async () => {
    const r = rig();
    await up(r);
    r.connection.room = 0;
    r.tuns[0]!.read(udp("10.99.0.2", "100.64.0.3", 500));
    const closing = r.session.close();
    expect(r.connection.ended).toBe(false);
    r.connection.room = Infinity;
    r.session.drained();
    expect(r.connection.ended).toBe(true);
    await closing;
    expect(r.connection.of("close")).toEqual([{ type: "close", reason: CloseReason.Normal, text: "the agent is shutting down" }]);
    expect(r.tuns[0]!.closed).toBe(true);
  });

  test("a CLOSE the connection cannot take within 2 s is given up: the connection is cut", async () => {
    const r = rig();
    await up(r);
    r.connection.room = 0;
    void r.session.close();
    await r.clock.advance(2000);
    expect(r.connection.destroyed).toBe(true);
  });
});
