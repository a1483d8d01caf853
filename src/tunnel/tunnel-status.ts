/** What a running tunnel reports: the control socket's answer and `tunnel status --json`. */
import type { DataChannelState } from "../ssm/data-channel-types.ts";

export type TunnelState = DataChannelState;

/** Packets not carried, by why. */
export interface TunnelDrops {
  /** Refused by the data channel: its in-flight bound (the drop-tail queue) was full. */
  queueFull: number;
  /** Read from the TUN with a destination outside every --cidr and the peer. */
  filtered: number;
  /** Larger than the MTU agreed with the agent. */
  oversize: number;
  /** Read while no session was up (connecting or between sessions). */
  noSession: number;
  /** From the agent, but the TUN refused the write (its queue was full). */
  tunWrite: number;
  /**
   * Toward us, dropped at the agent by its in-flight bound (the bytes on the way to us were at
   * its limit), as its latest BOUND_STATS said; 0 with an agent without the bound.
   */
  inFlightBound: number;
}

export interface TunnelCounters {
  /** IP packets and their bytes sent into the tunnel (TUN → agent). */
  packetsSent: number;
  bytesSent: number;
  /** IP packets and bytes received from the tunnel and written to the TUN. */
  packetsReceived: number;
  bytesReceived: number;
  drops: TunnelDrops;
}

export interface TunnelStatus extends TunnelCounters {
  readonly state: TunnelState;
  readonly sessionId: string | undefined;
  readonly interface: string | undefined;
  readonly clientAddress: string | undefined;
  readonly agentAddress: string | undefined;
  readonly mtu: number | undefined;
  readonly routes: readonly string[];
  /** `CLIENT6 -> AGENT6`, or `not available: why` (the IPv6 CIDRs are then not routed). */
  readonly ipv6?: string | undefined;
  /** Unix ms: when the tunnel started, and when its current session came up. */
  readonly startedAt: number;
  readonly upSince: number | undefined;
  /** Data channel messages sent again (all sessions). */
  readonly resends: number;
  /** The last PING → PONG round trip, in ms. */
  readonly rttMs: number | undefined;
  /** Data channel resumes plus new sessions after the first. */
  readonly reconnects: number;
  /** Sessions started, the first included. */
  readonly sessions: number;
  /** Why the last session ended, if one did. */
  readonly lastError: string | undefined;
  /** Each striped session (`--sessions N`; one entry without). */
  readonly stripes: readonly TunnelStripeStatus[];
}

/** One striped session: its own state and the packets that went over it. */
export interface TunnelStripeStatus {
  readonly index: number;
  readonly state: TunnelState;
  readonly sessionId: string | undefined;
  readonly upSince: number | undefined;
  readonly packetsSent: number;
  readonly bytesSent: number;
  readonly packetsReceived: number;
  readonly bytesReceived: number;
  readonly resends: number;
  readonly reconnects: number;
  readonly rttMs: number | undefined;
  readonly lastError: string | undefined;
  /** The agent's in-flight bound on this session, once reports flow; undefined with an agent without it. */
  readonly inFlightBound: TunnelBoundStatus | undefined;
}

/** What RX_REPORT and BOUND_STATS show of the agent's in-flight bound (docs/tunnel.md, "Queues"). */
export interface TunnelBoundStatus {
  readonly reportsSent: number;
  readonly drops: number;
  /** From the agent's latest BOUND_STATS (undefined before the first). */
  readonly limitBytes: number | undefined;
  readonly inFlightBytes: number | undefined;
  readonly rateBytesPerSecond: number | undefined;
  readonly minRttMs: number | undefined;
}

export function emptyCounters(): TunnelCounters {
  return { packetsSent: 0, bytesSent: 0, packetsReceived: 0, bytesReceived: 0, drops: { queueFull: 0, filtered: 0, oversize: 0, noSession: 0, tunWrite: 0, inFlightBound: 0 } };
}
