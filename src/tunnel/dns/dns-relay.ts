/**
 * A small DNS relay over UDP and TCP on one address, used at both ends of the tunnel: the
 * client's resolver for `tunnel up --dns` (forwards the zones' queries to the agent, REFUSED
 * for every other name) and the agent's forwarder on its tunnel address (forwards to the
 * instance's resolver). It reads only each query's question (dns-question.ts) and relays the
 * answers byte for byte, so it needs no DNS library and caches nothing.
 *
 * UDP: each forwarded query gets a socket of its own toward the upstream (a fresh random port,
 * nothing to match up, so one client cannot poison another's answers), closed at the first
 * answer from the upstream with the query's id or after 5 s; at most 256 at once, queries past
 * that are dropped (the stub retries). TCP (RFC 7766): length-prefixed messages both ways over
 * one upstream connection per client connection, each answer written whole, 30 s idle limit.
 * `asker` limits who may ask at all: the relay is not an open resolver for whoever can reach
 * its address (the kernel accepts packets for a local address on any interface).
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from "node:dgram";
import { connect, createServer, type Server, type Socket } from "node:net";
import { silentLogger, type Logger } from "../../log.ts";
import { dnsErrorResponse, dnsOpcode, DnsRcode, parseDnsQuestion, type DnsQuestion } from "./dns-question.ts";
import { LengthPrefixed } from "./length-prefixed.ts";

export const DNS_PORT = 53;
const UDP_TIMEOUT_MS = 5000;
const TCP_IDLE_MS = 30_000;
const MAX_UDP_IN_FLIGHT = 256;
const MAX_TCP_CONNECTIONS = 64;

export interface DnsRelayOptions {
  /** The address (and port, 0 for tests) to answer on, over UDP and TCP. */
  readonly host: string;
  readonly port: number;
  readonly upstream: { readonly host: string; readonly port: number };
  /** The source address of forwarded queries; undefined: the kernel picks. */
  readonly upstreamSource?: string | undefined;
  /** true: forward the query; false: answer REFUSED. */
  readonly accepts: (question: DnsQuestion) => boolean;
  /** Who may ask (the source address); anyone else's datagrams are dropped and connections cut. */
  readonly asker?: ((address: string) => boolean) | undefined;
  readonly logger?: Logger;
  readonly udpTimeoutMs?: number;
}

export interface DnsRelayStats {
  forwarded: number;
  refused: number;
  malformed: number;
  /** Queries from an address `asker` refused. */
  strangers: number;
  /** UDP queries dropped because 256 were already waiting for the upstream. */
  dropped: number;
  /** Forwarded UDP queries the upstream did not answer in time. */
  timeouts: number;
}

export interface DnsRelay {
  /** The UDP port bound (the TCP one is the same unless `port` was 0: then each has its own). */
  readonly port: number;
  readonly tcpPort: number;
  stats(): DnsRelayStats;
  close(): Promise<void>;
}

type Verdict = { forward: true } | { forward: false; answer: Uint8Array | undefined };

export async function startDnsRelay(options: DnsRelayOptions): Promise<DnsRelay> {
  const logger = options.logger ?? silentLogger;
  const stats: DnsRelayStats = { forwarded: 0, refused: 0, malformed: 0, strangers: 0, dropped: 0, timeouts: 0 };
  const judge = (message: Uint8Array): Verdict => {
    const question = parseDnsQuestion(message);
    if ("problem" in question) {
      stats.malformed++;
      logger.debug("malformed DNS query", { problem: question.problem });
      // Never answer what claims to be an answer: two relays must not bounce errors forever.
      const answerable = message.length >= 12 && (message[2]! & 0x80) === 0;
      return { forward: false, answer: answerable ? dnsErrorResponse(message, DnsRcode.FormErr) : undefined };
    }
    if (dnsOpcode(question.flags) !== 0) return { forward: false, answer: dnsErrorResponse(message, DnsRcode.NotImp, question) };
    if (!options.accepts(question)) {
      stats.refused++;
      return { forward: false, answer: dnsErrorResponse(message, DnsRcode.Refused, question) };
    }
    stats.forwarded++;
    return { forward: true };
  };
  const udp = await startUdp(options, judge, stats, logger);
  let tcp: Server;
  try {
    tcp = await startTcp(options, judge, logger, stats);
  } catch (error) {
    udp.close();
    throw error;
  }
  const tcpAddress = tcp.address();
  return {
    port: udp.port,
    tcpPort: typeof tcpAddress === "object" && tcpAddress !== null ? tcpAddress.port : options.port,
    stats: () => ({ ...stats }),
    async close() {
      udp.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

async function startUdp(options: DnsRelayOptions, judge: (m: Uint8Array) => Verdict, stats: DnsRelayStats, logger: Logger): Promise<{ port: number; close(): void }> {
  const family = options.host.includes(":") ? "udp6" : "udp4";
  const socket = createSocket({ type: family });
  const pending = new Set<UdpSocket>();
  socket.on("message", (message: Buffer, from: RemoteInfo) => {
    if (options.asker?.(from.address) === false) return void stats.strangers++;
    const verdict = judge(message);
    if (!verdict.forward) {
      if (verdict.answer !== undefined) socket.send(verdict.answer, from.port, from.address);
      return;
    }
    if (pending.size >= MAX_UDP_IN_FLIGHT) return void stats.dropped++;
    forwardUdp(message, options, pending, stats, (answer) => socket.send(answer, from.port, from.address));
  });
  await bindUdp(socket, options.host, options.port);
  // A send that fails (the asker went away) must not end the relay, let alone the process.
  socket.on("error", (error) => logger.debug("DNS relay UDP error", { error: error.message }));
  return {
    port: socket.address().port,
    close() {
      for (const s of pending) s.close();
      pending.clear();
      socket.close();
    },
  };
}

function forwardUdp(query: Buffer, options: DnsRelayOptions, pending: Set<UdpSocket>, stats: DnsRelayStats, reply: (answer: Buffer) => void): void {
  const { upstream } = options;
  const out = createSocket({ type: upstream.host.includes(":") ? "udp6" : "udp4" });
  pending.add(out);
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    pending.delete(out);
    out.close();
  };
  const timer = setTimeout(() => {
    stats.timeouts++;
    finish();
  }, options.udpTimeoutMs ?? UDP_TIMEOUT_MS);
  out.on("error", finish);
  out.on("message", (answer: Buffer, from: RemoteInfo) => {
    // Only the upstream's answer to this query counts: same id, from where it was sent.
    if (from.port !== upstream.port || answer.length < 12 || answer[0] !== query[0] || answer[1] !== query[1]) return;
    reply(answer);
    finish();
  });
  out.bind({ address: options.upstreamSource ?? (upstream.host.includes(":") ? "::" : "0.0.0.0"), port: 0 }, () => {
    if (!done) out.send(query, upstream.port, upstream.host, (error) => error && finish());
  });
}

function bindUdp(socket: UdpSocket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off("error", reject);
      resolve();
    });
  });
}

async function startTcp(options: DnsRelayOptions, judge: (m: Uint8Array) => Verdict, logger: Logger, stats: DnsRelayStats): Promise<Server> {
  const server = createServer((client) => {
    if (options.asker?.(client.remoteAddress ?? "") === false) {
      stats.strangers++;
      return void client.destroy();
    }
    serveTcp(client, options, judge, logger);
  });
  server.maxConnections = MAX_TCP_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
      server.off("error", reject);
      server.on("error", (error) => logger.debug("DNS relay TCP error", { error: error.message }));
      resolve();
    });
  });
  return server;
}

function serveTcp(client: Socket, options: DnsRelayOptions, judge: (m: Uint8Array) => Verdict, logger: Logger): void {
  let upstream: Socket | undefined;
  const end = (): void => {
    client.destroy();
    upstream?.destroy();
  };
  client.setTimeout(TCP_IDLE_MS, end);
  client.on("error", end);
  client.on("close", end);
  const fromClient = new LengthPrefixed();
  const fromUpstream = new LengthPrefixed();
  client.on("data", (chunk: Buffer) => {
    for (const message of fromClient.push(chunk)) {
      const verdict = judge(message);
      if (!verdict.forward) {
        if (verdict.answer === undefined) return end();
        client.write(LengthPrefixed.frame(verdict.answer));
        continue;
      }
      upstream ??= openUpstream(options, (answer) => client.write(LengthPrefixed.frame(answer)), fromUpstream, end, logger);
      upstream.write(LengthPrefixed.frame(message));
    }
  });
}

function openUpstream(options: DnsRelayOptions, reply: (answer: Uint8Array) => void, framer: LengthPrefixed, end: () => void, logger: Logger): Socket {
  const { upstream } = options;
  const socket = connect({ host: upstream.host, port: upstream.port, ...(options.upstreamSource === undefined ? {} : { localAddress: options.upstreamSource }) });
  socket.setTimeout(TCP_IDLE_MS, end);
  socket.on("data", (chunk: Buffer) => {
    for (const answer of framer.push(chunk)) reply(answer);
  });
  socket.on("error", (error) => {
    logger.debug("DNS upstream connection failed", { upstream: `${upstream.host}:${upstream.port}`, error: error.message });
    end();
  });
  socket.on("close", end);
  return socket;
}
