/**
 * The shapes of one agent session (agent-session.ts re-exports them): its connection, options,
 * state, counters and end, and the defaults they share with the socks-mode session.
 */
import type { Cidr } from "../net/cidr.ts";
import type { Logger } from "../log.ts";
import type { TunDevice, TunOptions } from "../net/tun-device.ts";
import type { TunnelClock } from "../tunnel/tunnel-clock.ts";
import type { AddressPool } from "./address-pool.ts";
import type { AgentClients } from "./agent-client.ts";
import type { BacklogStats, BacklogWriterOptions, ByteSink } from "./backlog-writer.ts";
import type { DnsUpstream } from "./instance-resolver.ts";
import type { InFlightBoundOptions, InFlightBoundStats } from "./in-flight-bound.ts";

export const DEFAULT_AGENT_MTU = 1400;
/** The agent's TUN devices; the kernel numbers them. Distinct from the client's cpx%d. */
export const AGENT_TUN_NAME = "cpa%d";
/** A client PINGs every 15 s; this long without a byte from it ends the session. */
export const SILENCE_TIMEOUT_MS = 60_000;

/** The SSM agent's connection as a session sees it. */
export interface AgentConnection extends ByteSink {
  /** Half-closes once what was written has gone (Bun's socket.end()). */
  end(): void;
  /** Drops the connection at once. */
  destroy(): void;
}

export interface AgentSessionOptions {
  readonly connection: AgentConnection;
  readonly pool: AddressPool;
  readonly openTun: (options: TunOptions) => Promise<TunDevice>;
  /** Destinations clients may reach; undefined: everywhere. */
  readonly allowCidrs?: readonly Cidr[] | undefined;
  readonly mtu?: number;
  readonly tunName?: string;
  readonly clock?: TunnelClock;
  readonly logger?: Logger;
  readonly helloAckTimeoutMs?: number;
  readonly pingIntervalMs?: number;
  /** With no byte from the client for this long, the session ends. Default 60 s. */
  readonly silenceTimeoutMs?: number;
  /** The bounds of the backlog toward the SSM agent (defaults: backlog-writer.ts). */
  readonly backlog?: BacklogWriterOptions;
  /** The server's striping clients, shared by its sessions; a session of its own when absent. */
  readonly clients?: AgentClients;
  /** Why this agent cannot forward IPv6 (told to clients in HELLO); undefined: it can, when the pool has an IPv6 prefix. */
  readonly ipv6Unavailable?: string | undefined;
  /** With it, each client gets a DNS forwarder on its agent address (port 53) relaying there. */
  readonly dnsUpstream?: DnsUpstream | undefined;
  /** The forwarder's port (53; tests pick another). */
  readonly dnsPort?: number;
  /**
   * The end-to-end bound on bytes in flight toward a client that reports what it received
   * (in-flight-bound.ts); false (the benchmark's unbounded queues) neither offers nor applies it.
   */
  readonly inFlightBound?: boolean | InFlightBoundOptions;
}

export type AgentSessionState = "hello_sent" | "opening" | "up" | "ended";

export interface AgentSessionDrops {
  malformed: number;
  spoofed: number;
  notAllowed: number;
  /** Client packets above the MTU. */
  oversize: number;
  /** The TUN refused a write (its queue was full). */
  tunWrite: number;
  /** Client packets past the small queue kept while the TUN opened. */
  early: number;
  /** Packets the TUN read that were not for the client's address (IPv6 chatter, say). */
  filtered: number;
  /** Packets toward the client dropped because the SSM agent's connection was backed up. */
  backlog: number;
  /** Packets the client's TUN read while none of its sessions was up (this and `filtered` count per client). */
  noSession: number;
  /** Packets toward the client dropped because the bytes in flight to it were at the in-flight bound. */
  inFlightBound: number;
}

export interface AgentSessionStats {
  readonly state: AgentSessionState;
  readonly clientAddress: string | undefined;
  readonly agentAddress: string | undefined;
  readonly interface: string | undefined;
  readonly hostname: string | undefined;
  /** `index/count` of a striping client's session. */
  readonly stripe: string | undefined;
  packetsFromClient: number;
  bytesFromClient: number;
  packetsToClient: number;
  bytesToClient: number;
  readonly drops: AgentSessionDrops;
  readonly rttMs: number | undefined;
  readonly writer: BacklogStats;
  /** The in-flight bound, when the client reports what it receives. */
  readonly inFlightBound: InFlightBoundStats | undefined;
}

export interface AgentSessionEnd {
  readonly reason: string;
}
