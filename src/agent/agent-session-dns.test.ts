/**
 * The DNS forwarder of one agent session, on real sockets: it answers on the agent's tunnel
 * address once the session is up, only to that session's client, relays to the upstream, and is
 * gone when the session ends. The pool is in 127.0.0.0/8 so its addresses are local here; the
 * connection and TUN are the fakes of agent-session.test.ts's kind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createSocket, type Socket } from "node:dgram";
import { createServer } from "node:net";
import { dnsAnswer, dnsQuery, parseDnsAnswer } from "../../test/helpers/tunnel-hosts/dns-shape.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { fakeTunOpener, type FakeTun } from "../tunnel/_fake-tun.ts";
import { settle } from "../tunnel/_fake-tunnel-clock.ts";
import { CLIENT_HELLO_ACK } from "./_client-hello-ack.ts";
import { createAddressPool } from "./address-pool.ts";
import { AgentSession, type AgentConnection } from "./agent-session.ts";

const ANSWER = "10.99.0.53";
const upstream = createSocket("udp4");

beforeAll(async () => {
  upstream.on("message", (query, from) => upstream.send(dnsAnswer(query, ANSWER), from.port, from.address));
  await new Promise<void>((resolve) => upstream.bind({ address: "127.0.0.1", port: 0 }, resolve));
});
afterAll(() => upstream.close());

const connection: AgentConnection = { write: (data) => data.length, end: () => undefined, destroy: () => undefined };

/** A port free on `address` now for both UDP and TCP (the forwarder takes both next). */
async function freePort(address: string): Promise<number> {
  for (;;) {
    const probe = createSocket("udp4");
    await new Promise<void>((resolve) => probe.bind({ address, port: 0 }, resolve));
    const { port } = probe.address();
    const tcp = createServer();
    const free = await new Promise<boolean>((resolve) => {
      tcp.once("error", () => resolve(false));
      tcp.listen({ host: address, port, exclusive: true }, () => resolve(true));
    });
    probe.close();
    await new Promise<void>((resolve) => (free ? tcp.close(() => resolve()) : resolve()));
    if (free) return port;
  }
}

/** One query from `from` to `to`:`port`; the answer's address, or undefined within 300 ms. */
async function ask(from: string, to: string, port: number): Promise<string | undefined> {
  const socket: Socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind({ address: from, port: 0 }, resolve));
  const answer = new Promise<string | undefined>((resolve) => {
    socket.once("message", (m) => resolve(parseDnsAnswer(new Uint8Array(m))?.address));
    setTimeout(() => resolve(undefined), 300);
  });
  socket.send(dnsQuery(0x5151, "db.internal.corp"), port, to);
  try {
    return await answer;
  } finally {
    socket.close();
  }
}

describe("an agent session's DNS forwarder", () => {
  test("answers its client on the agent address once up, refuses other askers, and is gone after the session", async () => {
    const pool = createAddressPool("127.77.0.0/24");
    const tuns: FakeTun[] = [];
    const agentAddress = "127.77.0.2";
    const clientAddress = "127.77.0.3";
    const port = await freePort(agentAddress);
    const session = new AgentSession({
      connection,
      pool,
      openTun: fakeTunOpener(tuns, "cpa"),
      dnsUpstream: { host: "127.0.0.1", port: upstream.address().port },
      dnsPort: port,
    });
    session.start();
    session.receive(CLIENT_HELLO_ACK);
    await settle();
    expect(tuns[0]!.options).toMatchObject({ address: agentAddress, peer: clientAddress });
    expect(await waitFor(() => ask(clientAddress, agentAddress, port), { timeoutMs: 5000, what: "the forwarder's answer" })).toBe(ANSWER);
    expect(await ask("127.77.0.9", agentAddress, port)).toBeUndefined();
    await session.close();
    // The port is free again: the forwarder closed with the session.
    const again = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      again.once("error", reject);
      again.bind({ address: agentAddress, port }, resolve);
    });
    again.close();
  });

  test("a port it cannot bind only costs the forwarder: the session still comes up", async () => {
    const taken = createSocket("udp4");
    await new Promise<void>((resolve) => taken.bind({ address: "127.78.0.2", port: 0 }, resolve));
    const tuns: FakeTun[] = [];
    const session = new AgentSession({
      connection,
      pool: createAddressPool("127.78.0.0/24"),
      openTun: fakeTunOpener(tuns, "cpa"),
      dnsUpstream: { host: "127.0.0.1", port: 9 },
      dnsPort: taken.address().port,
    });
    session.start();
    session.receive(CLIENT_HELLO_ACK);
    await settle();
    expect(session.stats().state).toBe("up");
    await session.close();
    expect(tuns[0]!.closed).toBe(true);
    taken.close();
  });
});
