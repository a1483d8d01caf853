/**
 * The listener of `credproxy agent`: every TCP connection (the SSM agent's Port plugin dials
 * one per Session Manager session) becomes an AgentSession, several at once. Each accepted
 * socket gets a small send buffer (16 KiB asked, 32 KiB as Linux counts it) so data the SSM
 * agent has not read yet waits in the session's backlog writer, where it is bounded and
 * dropped, and not in megabytes of kernel buffer (ssm-tunnel.md §9).
 */
import type { Socket, TCPSocketListener } from "bun";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Cidr } from "../net/cidr.ts";
import { limitSendBuffer } from "../net/send-buffer.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { TunDevice, TunOptions } from "../net/tun-device.ts";
import type { AddressPool } from "./address-pool.ts";
import type { AgentClients } from "./agent-client.ts";
import { AgentSession, type AgentSessionStats } from "./agent-session.ts";

export const SEND_BUFFER_BYTES = 16 * 1024;

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
}

export interface AgentServer {
  readonly host: string;
  readonly port: number;
  /** The sessions now open. */
  sessions(): AgentSessionStats[];
  /** Stops accepting, sends every client CLOSE and waits until each has released its TUN. */
  close(reason?: string): Promise<void>;
}

interface SocketData {
  session: AgentSession | undefined;
}

export function startAgentServer(options: AgentServerOptions): AgentServer {
  const logger = options.logger ?? silentLogger;
  const sessions = new Set<AgentSession>();
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
          const session = openSession(socket, options, clients, logger.child({ connection: id }));
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
    sessions: () => [...sessions].map((s) => s.stats()),
    async close(reason) {
      listener.stop(false);
      await Promise.all([...sessions].map((s) => s.close(reason)));
      listener.stop(true);
    },
  };
}

function openSession(socket: Socket<SocketData>, options: AgentServerOptions, clients: AgentClients, logger: Logger): AgentSession {
  socket.setNoDelay(true);
  try {
    const size = limitSendBuffer(socket, SEND_BUFFER_BYTES);
    logger.debug("SSM agent connected", { remote: `${socket.remoteAddress}:${socket.remotePort}`, sendBuffer: size });
  } catch (error) {
    // Still usable, only with a deeper hidden queue.
    logger.warn("cannot shrink the connection's send buffer", { error: error instanceof Error ? error.message : String(error) });
  }
  return new AgentSession({
    connection: { write: (data) => socket.write(data), end: () => void socket.end(), destroy: () => socket.terminate() },
    pool: options.pool,
    clients,
    openTun: options.openTun,
    allowCidrs: options.allowCidrs,
    ipv6Unavailable: options.ipv6Unavailable,
    ...(options.mtu === undefined ? {} : { mtu: options.mtu }),
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
