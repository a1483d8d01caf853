import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createSocket, type Socket } from "node:dgram";
import { connect, createServer, type Server } from "node:net";
import { dnsAnswer, dnsQuery, parseDnsAnswer } from "../../../test/helpers/tunnel-hosts/dns-shape.ts";
import { startDnsRelay, type DnsRelay } from "./dns-relay.ts";
import { waitFor } from "../../../test/helpers/wait.ts";
import { zoneMatcher } from "./dns-zones.ts";
import { LengthPrefixed } from "./length-prefixed.ts";

const ANSWER = "10.11.12.13";
let upstreamUdp: Socket;
let upstreamTcp: Server;
let relay: DnsRelay;
let upstreamQueries = 0;

/** Listens on 127.0.0.1:`port`, or rejects (EADDRINUSE: the UDP port's TCP twin is taken). */
function listenOn(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** A tiny upstream answering every query with ANSWER, over UDP and TCP on one port (as port 53 is). */
async function startUpstream(): Promise<{ udp: Socket; tcp: Server; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const udp = createSocket("udp4");
    udp.on("message", (query, from) => {
      upstreamQueries++;
      udp.send(dnsAnswer(query, ANSWER), from.port, from.address);
    });
    await new Promise<void>((resolve) => udp.bind({ address: "127.0.0.1", port: 0 }, resolve));
    const port = udp.address().port;
    const tcp = createServer((socket) => {
      const framer = new LengthPrefixed();
      socket.on("data", (chunk: Buffer) => {
        for (const query of framer.push(chunk)) {
          upstreamQueries++;
          socket.write(LengthPrefixed.frame(dnsAnswer(query, ANSWER)));
        }
      });
    });
    try {
      await listenOn(tcp, port);
      return { udp, tcp, port };
    } catch (error) {
      // That port's TCP twin is taken: another pair.
      udp.close();
      if (attempt >= 20) throw error;
    }
  }
}

beforeAll(async () => {
  const upstream = await startUpstream();
  upstreamUdp = upstream.udp;
  upstreamTcp = upstream.tcp;
  const inZone = zoneMatcher(["internal.corp"]);
  relay = await startDnsRelay({ host: "127.0.0.1", port: 0, upstream: { host: "127.0.0.1", port: upstream.port }, upstreamSource: "127.0.0.1", accepts: (q) => inZone(q.name) });
});

afterAll(async () => {
  await relay.close();
  upstreamUdp.close();
  upstreamTcp.close();
});

/** One UDP exchange with the relay. */
async function overUdp(query: Uint8Array): Promise<Uint8Array> {
  const socket = createSocket("udp4");
  const answer = new Promise<Uint8Array>((resolve) => socket.once("message", (m) => resolve(new Uint8Array(m))));
  socket.send(query, relay.port, "127.0.0.1");
  try {
    return await answer;
  } finally {
    socket.close();
  }
}

/** Several queries over one TCP connection; the answers in arrival order. */
async function overTcp(queries: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const socket = connect({ host: "127.0.0.1", port: relay.tcpPort });
  const framer = new LengthPrefixed();
  const answers: Uint8Array[] = [];
  const all = new Promise<void>((resolve) =>
    socket.on("data", (chunk: Buffer) => {
      answers.push(...framer.push(chunk));
      if (answers.length === queries.length) resolve();
    }),
  );
  for (const q of queries) socket.write(LengthPrefixed.frame(q));
  await all;
  socket.destroy();
  return answers;
}

const rcode = (answer: Uint8Array): number => answer[3]! & 0x0f;

describe("startDnsRelay()", () => {
  test("UDP: a query in the zone is answered by the upstream; another name gets REFUSED without reaching it", async () => {
    const before = upstreamQueries;
    expect(parseDnsAnswer(await overUdp(dnsQuery(0x0102, "db.internal.corp")))).toEqual({ id: 0x0102, address: ANSWER });
    const refused = await overUdp(dnsQuery(0x0304, "example.invalid"));
    expect([refused[0], refused[1], rcode(refused)]).toEqual([0x03, 0x04, 5]);
    expect(upstreamQueries - before).toBe(1);
    expect(relay.stats()).toMatchObject({ forwarded: 1, refused: 1 });
  });

  test("UDP: garbage gets FORMERR; something shaped as an answer gets nothing back", async () => {
    const formErr = await overUdp(new Uint8Array([1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 97]));
    expect(rcode(formErr)).toBe(1);
    // An answer sent to the relay is dropped; the query after it is still served.
    const socket = createSocket("udp4");
    socket.send(new Uint8Array([1, 2, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]), relay.port, "127.0.0.1");
    socket.close();
    expect(parseDnsAnswer(await overUdp(dnsQuery(7, "internal.corp")))?.address).toBe(ANSWER);
  });

  test("TCP: forwarded and refused queries on one connection each get their whole answer", async () => {
    const answers = await overTcp([dnsQuery(0x0a0a, "x.internal.corp"), dnsQuery(0x0b0b, "example.invalid"), dnsQuery(0x0c0c, "y.internal.corp")]);
    const byId = new Map(answers.map((a) => [(a[0]! << 8) | a[1]!, a]));
    expect(parseDnsAnswer(byId.get(0x0a0a)!)?.address).toBe(ANSWER);
    expect(rcode(byId.get(0x0b0b)!)).toBe(5);
    expect(parseDnsAnswer(byId.get(0x0c0c)!)?.address).toBe(ANSWER);
  });
});

test("asker: queries from an address it refuses get nothing, over UDP or TCP", async () => {
  const closed = await startDnsRelay({ host: "127.0.0.1", port: 0, upstream: { host: "127.0.0.1", port: 9 }, accepts: () => true, asker: (a) => a === "127.0.0.9" });
  const socket = createSocket("udp4");
  socket.send(dnsQuery(1, "internal.corp"), closed.port, "127.0.0.1");
  const tcp = connect({ host: "127.0.0.1", port: closed.tcpPort });
  await new Promise((resolve) => tcp.on("close", resolve));
  // Both were counted (the datagram and the connection), and nothing was answered or forwarded.
  await waitFor(() => closed.stats().strangers === 2, { timeoutMs: 5000, what: "two strangers counted" });
  expect(closed.stats()).toMatchObject({ forwarded: 0, malformed: 0 });
  socket.close();
  await closed.close();
});

describe("LengthPrefixed", () => {
  test("messages split across chunks and several in one chunk come out whole", () => {
    const framer = new LengthPrefixed();
    const a = LengthPrefixed.frame(new Uint8Array([1, 2, 3]));
    const b = LengthPrefixed.frame(new Uint8Array([4]));
    expect(framer.push(a.subarray(0, 1))).toEqual([]);
    expect(framer.push(new Uint8Array([...a.subarray(1), ...b, 0]))).toEqual([new Uint8Array([1, 2, 3]), new Uint8Array([4])]);
    expect(framer.push(new Uint8Array([0]))).toEqual([new Uint8Array(0)]);
  });
});
