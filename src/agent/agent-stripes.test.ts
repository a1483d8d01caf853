/**
 * Sessions of one striping client at the agent (protocol 1.1, the stripes capability): they
 * share one TUN and address pair, each hears STRIPE_JOINED, return packets go on the session
 * their flow hashes to (among those up here and live at the client), and the TUN and pair go
 * only when the last session has. A 1.0 client keeps a TUN of its own per session.
 */
import { describe, expect, test } from "bun:test";
import { tcpHeader } from "../../test/helpers/stripe-ports.ts";
import { FakeTun } from "../tunnel/_fake-tun.ts";
import { FakeClock, settle } from "../tunnel/_fake-tunnel-clock.ts";
import { flowHash, pickStripe } from "../tunnel/flow-hash.ts";
import { CAPABILITY_STRIPES, encodeHelloAck, encodePacket, encodeStripesLive } from "../tunnel/framing.ts";
import type { TunOptions } from "../net/tun-device.ts";
import { CLIENT_HELLO_ACK } from "./_client-hello-ack.ts";
import { FakeConnection } from "./_fake-connection.ts";
import { createAddressPool } from "./address-pool.ts";
import type { AgentClients } from "./agent-client.ts";
import { AgentSession } from "./agent-session.ts";

const CLIENT_ID = new Uint8Array(16).fill(7);

function stripedAck(index: number, count: number, clientId = CLIENT_ID): Uint8Array {
  return encodeHelloAck({
    version: { major: 1, minor: 1 },
    capabilities: CAPABILITY_STRIPES,
    clientId,
    stripeIndex: index,
    stripeCount: count,
    hostname: "laptop.test",
    clientVersion: "test-client",
    cidrs: ["10.99.0.0/24"],
  });
}

function agent() {
  const pool = createAddressPool("100.64.0.0/24");
  const clients: AgentClients = new Map();
  const clock = new FakeClock();
  const tuns: FakeTun[] = [];
  const openTun = async (options: TunOptions) => {
    const tun = new FakeTun(`cpa${tuns.length}`, options);
    tuns.push(tun);
    return tun;
  };
  const connect = () => {
    const connection = new FakeConnection();
    const session = new AgentSession({ connection, pool, clients, openTun, clock });
    session.start();
    return { session, connection };
  };
  return { pool, clients, tuns, connect };
}

/** A TCP packet of flow `port` from a vpc host back to the client at 100.64.0.3. */
const reply = (port: number): Uint8Array => {
  const packet = new Uint8Array(80);
  packet.set(tcpHeader("10.99.0.2", 443, "100.64.0.3", port));
  return packet;
};
const PORTS = Array.from({ length: 40 }, (_, i) => 50000 + i);

describe("the sessions of one striping client", () => {
  test("share one TUN and the first session's pair; each hears STRIPE_JOINED, and the later HELLO's pair goes back", async () => {
    const a = agent();
    const one = a.connect();
    const two = a.connect();
    expect(a.pool.inUse()).toBe(2);
    one.session.receive(stripedAck(0, 2));
    await settle();
    two.session.receive(stripedAck(1, 2));
    await settle();
    expect(a.tuns).toHaveLength(1);
    expect(a.pool.inUse()).toBe(1);
    const pair = { type: "stripe_joined" as const, clientAddress: "100.64.0.3", agentAddress: "100.64.0.2" };
    expect(one.connection.of("stripe_joined")).toEqual([pair]);
    expect(two.connection.of("stripe_joined")).toEqual([pair]);
    expect(two.session.stats()).toMatchObject({ state: "up", interface: "cpa0", clientAddress: "100.64.0.3", stripe: "1/2" });
    // A packet from the client on either session goes to the one TUN.
    const out = new Uint8Array(60);
    out.set(tcpHeader("100.64.0.3", 50000, "10.99.0.2", 443));
    two.session.receive(encodePacket(out));
    expect(a.tuns[0]!.written).toEqual([out]);
  });

  test("return packets go on the session of their flow, all of a flow's on one; STRIPES_LIVE narrows the choice", async () => {
    const a = agent();
    const sessions = [a.connect(), a.connect()];
    for (const [i, s] of sessions.entries()) s.session.receive(stripedAck(i, 2));
    await settle();
    for (let round = 0; round < 2; round++) for (const port of PORTS) a.tuns[0]!.read(reply(port));
    const on = (i: number) => sessions[i]!.connection.of("packet").length;
    const want = [0, 1].map((i) => PORTS.filter((p) => pickStripe(flowHash(reply(p))!, [0, 1]) === i).length * 2);
    expect([on(0), on(1)]).toEqual(want);
    expect(want.every((n) => n > 0)).toBe(true);
    sessions[0]!.session.receive(encodeStripesLive(0b10));
    for (const port of PORTS) a.tuns[0]!.read(reply(port));
    expect([on(0), on(1)]).toEqual([want[0]!, want[1]! + PORTS.length]);
    sessions[1]!.session.receive(encodeStripesLive(0b11));
    for (const port of PORTS) a.tuns[0]!.read(reply(port));
    expect([on(0), on(1)]).toEqual([want[0]! * 1.5, want[1]! * 1.5 + PORTS.length]);
    // A set naming none of the sessions held here leaves every held one in use, rather than none.
    sessions[1]!.session.receive(encodeStripesLive(0b100));
    for (const port of PORTS) a.tuns[0]!.read(reply(port));
    expect([on(0), on(1)]).toEqual([want[0]! * 2, want[1]! * 2 + PORTS.length]);
  });

  test("when one session ends its flows go to the other and the TUN stays; the last one out removes the TUN and frees the pair", async () => {
    const a = agent();
    const sessions = [a.connect(), a.connect()];
    for (const [i, s] of sessions.entries()) s.session.receive(stripedAck(i, 2));
    await settle();
    sessions[0]!.session.connectionClosed();
    await sessions[0]!.session.ended;
    expect(a.tuns[0]!.closed).toBe(false);
    for (const port of PORTS) a.tuns[0]!.read(reply(port));
    expect(sessions[1]!.connection.of("packet")).toHaveLength(PORTS.length);
    expect(a.clients.size).toBe(1);
    sessions[1]!.session.connectionClosed();
    await sessions[1]!.session.ended;
    expect(a.tuns[0]!.closed).toBe(true);
    expect(a.pool.inUse()).toBe(0);
    expect(a.clients.size).toBe(0);
  });

  test("a new session for a stripe index already held replaces the old one, which is closed", async () => {
    const a = agent();
    const old = a.connect();
    old.session.receive(stripedAck(0, 2));
    await settle();
    const fresh = a.connect();
    fresh.session.receive(stripedAck(0, 2));
    await settle();
    expect((await old.session.ended).reason).toBe("replaced by a new session for stripe 0");
    expect(old.connection.of("close")).toEqual([expect.objectContaining({ text: "replaced by a new session for stripe 0" })]);
    expect(a.tuns).toHaveLength(1);
    expect(a.tuns[0]!.closed).toBe(false);
    a.tuns[0]!.read(reply(50000));
    expect(fresh.connection.of("packet")).toHaveLength(1);
  });

  test("other client ids get their own TUN and pair", async () => {
    const a = agent();
    const one = a.connect();
    const other = a.connect();
    one.session.receive(stripedAck(0, 2));
    other.session.receive(stripedAck(0, 2, new Uint8Array(16).fill(9)));
    await settle();
    expect(a.tuns).toHaveLength(2);
    expect(other.connection.of("stripe_joined")).toEqual([expect.objectContaining({ clientAddress: "100.64.0.5" })]);
  });
});

describe("a client without stripes", () => {
  test("a 1.0 HELLO_ACK gets no STRIPE_JOINED and a TUN of its own per session, even with equal client ids", async () => {
    const a = agent();
    const one = a.connect();
    const two = a.connect();
    one.session.receive(CLIENT_HELLO_ACK);
    two.session.receive(CLIENT_HELLO_ACK);
    await settle();
    expect(a.tuns.map((t) => t.options.peer)).toEqual(["100.64.0.3", "100.64.0.5"]);
    expect(one.connection.of("stripe_joined")).toEqual([]);
    expect(a.clients.size).toBe(0);
  });
});
