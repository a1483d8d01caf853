/**
 * The listener of `credproxy agent`: every TCP connection (the SSM agent's Port plugin dials
 * one per Session Manager session) becomes an AgentSession, several at once. Each accepted
 * socket gets a small send buffer (16 KiB asked, 32 KiB as Linux counts it) so data the SSM
 * agent has not read yet waits in the session's backlog writer, where it is bounded and
 * dropped, and not in megabytes of kernel buffer (ssm-tunnel.md §9). The bounds come from
 * tunnel-queue.ts (a benchmark can lift them).
 */
import type { Socket, TCPSocketListener } from "bun";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Cidr } from "../net/cidr.ts";
import { limitSendBuffer } from "../net/send-buffer.ts";
import { silentLogger, type Logger } from "../log.ts";
import { tunnelQueueBounds, type TunnelQueueBounds } from "../tunnel/tunnel-queue.ts";
import type { TunDevice, TunOptions } from "../net/tun-device.ts";
import type { AddressPool } from "./address-pool.ts";
import type { AgentClients } from "./agent-client.ts";
import { AgentSession, type AgentSessionStats } from "./agent-session.ts";
import { StreamAgentSession, type StreamAgentSessionStats } from "./stream-agent-session.ts";

/** `tun`: a TUN device per client (root); `socks`: the agent dials streams itself (no privilege). */
export type AgentMode = "tun" | "socks";
import type { DnsUpstream } from "./instance-resolver.ts";

export interface AgentServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly pool: AddressPool;
  readonly allowCidrs?: readonly Cidr[] | undefined;
  readonly openTun: (options: TunOptions) => Promise<TunDevice>;
  readonly logger?: Logger;
  readonly mtu?: number;
  /** Why IPv6 is not forwarded (told to clients); undefined: forwarded when the pool has an IPv6 prefix. */
  readonly ipv6Unavailable?: string | undefined;
  /** Default tun; in socks mode the pool and openTun are never used. */
  readonly mode?: AgentMode;
  /** Default: the bounded queues. */
  readonly queue?: TunnelQueueBounds;
  /** Where each client's DNS forwarder sends queries; undefined: no forwarder. */
  readonly dnsUpstream?: DnsUpstream | undefined;
  readonly dnsPort?: number;
}

export interface AgentServer {
  readonly host: string;
  readonly port: number;
  /** The sessions now open. */
  sessions(): AgentSessionStats[];
  /** The socks-mode sessions now open. */
  streamSessions(): StreamAgentSessionStats[];
  /** Stops accepting, sends every client CLOSE and waits until each has released its TUN. */
  close(reason?: string): Promise<void>;
}

interface SocketData {
  session: AgentSession | StreamAgentSession | undefined;
}

export function startAgentServer(options: AgentServerOptions): AgentServer {
  const logger = options.logger ?? silentLogger;
  const sessions = new Set<AgentSession | StreamAgentSession>();
  const clients: AgentClients = new Map();
  let nextId = 1;
  let listener: TCPSocketListener<SocketData>;
  try {
    listener = Bun.listen<SocketData>({
      hostname: options.host,
      port: options.port,
      socket: {
        open(socket) {
          const id = nextId++;
          const child = logger.child({ connection: id });
          const session = options.mode === "socks" ? openStreamSession(socket, options, child) : openSession(socket, options, clients, child);
          socket.data = { session };
          sessions.add(session);
          void session.ended.then(() => sessions.delete(session));
          session.start();
        },
        data: (socket, chunk) => socket.data.session?.receive(chunk),
        drain: (socket) => socket.data.session?.drained(),
        close: (socket) => socket.data.session?.connectionClosed(),
        error(socket, error) {
          logger.debug("SSM agent connection error", { error: error.message });
          socket.data.session?.connectionClosed();
        },
      },
      data: { session: undefined },
    });
  } catch (error) {
    throw listenError(options.host, options.port, error);
  }
  return {
    host: options.host,
    port: listener.port,
    sessions: () => [...sessions].flatMap((s) => (s instanceof AgentSession ? [s.stats()] : [])),
    streamSessions: () => [...sessions].flatMap((s) => (s instanceof StreamAgentSession ? [s.stats()] : [])),
    async close(reason) {
      listener.stop(false);
      await Promise.all([...sessions].map((s) => s.close(reason)));
      listener.stop(true);
    },
  };
}

function openSession(socket: Socket<SocketData>, options: AgentServerOptions, clients: AgentClients, logger: Logger): AgentSession {
  socket.setNoDelay(true);
  const queue = options.queue ?? tunnelQueueBounds({});
  try {
    const size = queue.agentSendBufferBytes === undefined ? undefined : limitSendBuffer(socket, queue.agentSendBufferBytes);
    logger.debug("SSM agent connected", { remote: `${socket.remoteAddress}:${socket.remotePort}`, sendBuffer: size ?? "kernel default" });
  } catch (error) {
    // Still usable, only with a deeper hidden queue.
    logger.warn("cannot shrink the connection's send buffer", { error: error instanceof Error ? error.message : String(error) });
  }
  return new AgentSession({
    backlog: { maxBacklogBytes: queue.agentBacklogBytes, stuckBytes: queue.agentStuckBytes },
    inFlightBound: queue.agentInFlightBound,
    connection: { write: (data) => socket.write(data), end: () => void socket.end(), destroy: () => socket.terminate() },
    pool: options.pool,
    clients,
    openTun: options.openTun,
    allowCidrs: options.allowCidrs,
    ipv6Unavailable: options.ipv6Unavailable,
    ...(options.mtu === undefined ? {} : { mtu: options.mtu }),
    dnsUpstream: options.dnsUpstream,
    ...(options.dnsPort === undefined ? {} : { dnsPort: options.dnsPort }),
    logger,
  });
}

function openStreamSession(socket: Socket<SocketData>, options: AgentServerOptions, logger: Logger): StreamAgentSession {
  socket.setNoDelay(true);
  const queue = options.queue ?? tunnelQueueBounds({});
  try {
    if (queue.agentSendBufferBytes !== undefined) limitSendBuffer(socket, queue.agentSendBufferBytes);
  } catch (error) {
    logger.warn("cannot shrink the connection's send buffer", { error: error instanceof Error ? error.message : String(error) });
  }
  return new StreamAgentSession({
    connection: { write: (data) => socket.write(data), end: () => void socket.end(), destroy: () => socket.terminate() },
    allowCidrs: options.allowCidrs,
    // The benchmark's unbounded queues neither offer nor apply the pacing either.
    inFlightBound: queue.agentInFlightBound,
    logger,
  });
}

function listenError(host: string, port: number, error: unknown): CredproxyError {
  const code = (error as { code?: unknown }).code;
  const where = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const why = code === "EADDRINUSE" ? "the port is in use" : code === "EADDRNOTAVAIL" ? "no interface has that address" : error instanceof Error ? error.message : String(error);
  return new CredproxyError(ErrorCode.Listen, `agent: cannot listen on ${where}: ${why}`, {
    cause: error,
    hint: code === "EADDRINUSE" ? "is another credproxy agent running? stop it, or pick another --listen port (and --agent-port on the client)" : "check --listen HOST:PORT",
  });
}
