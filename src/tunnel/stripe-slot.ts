/**
 * One of a tunnel's striped sessions as the client keeps it across restarts (issue 13 point 2):
 * its place (the stripe index), the session now in it, its own restart backoff and counters,
 * and what `tunnel status` shows for it.
 */
import type { Ipv6State } from "./ipv6-state.ts";
import type { DataChannel } from "../ssm/data-channel-types.ts";
import { flowHash, pickStripe } from "./flow-hash.ts";
import type { BoundStatsFrame, FrameDecoder } from "./framing.ts";
import type { TunnelState, TunnelStripeStatus } from "./tunnel-status.ts";

/** One data channel and what the framing knows about it. */
export interface Session {
  readonly slot: StripeSlot;
  readonly channel: DataChannel;
  readonly decoder: FrameDecoder;
  up: boolean;
  ended: boolean;
  /** Both sides offered the stripes capability: the addresses come in STRIPE_JOINED. */
  striped: boolean;
  mtu: number;
  agentVersion: string;
  /** From HELLO (or STRIPE_JOINED): the IPv6 pair, or why there is none. */
  ipv6: Ipv6State;
  accepts: (packet: Uint8Array) => boolean;
  lastPongAt: number;
  nextPingId: number;
  cancelHello: () => void;
  cancelPing: () => void;
  /** Both sides accepted the in-flight bound: this session sends RX_REPORT. */
  reports: boolean;
  /** Packet bytes received on this session, and as far as the last RX_REPORT said. */
  receivedBytes: number;
  reportedBytes: number;
  /** Set while an RX_REPORT timer is armed; cancels it. */
  cancelReport: (() => void) | undefined;
}

export interface StripeSlot {
  readonly index: number;
  session: Session | undefined;
  /** Consecutive sessions that ended; reset when one comes up. */
  restartAttempt: number;
  cancelRestart: (() => void) | undefined;
  /** The agent speaks no stripes: this slot stays empty. */
  unsupported: boolean;
  sessionsStarted: number;
  restarts: number;
  /** Resends and resumes of this slot's channels already ended. */
  past: { resends: number; reconnects: number };
  upSince: number | undefined;
  rttMs: number | undefined;
  lastError: string | undefined;
  readonly counters: { packetsSent: number; bytesSent: number; packetsReceived: number; bytesReceived: number };
  /** The agent's in-flight bound on this slot: RX_REPORTs sent, drops of sessions already ended, the latest BOUND_STATS. */
  readonly bound: { reportsSent: number; pastDrops: number; latest: BoundStatsFrame | undefined };
}

export function newSlot(index: number): StripeSlot {
  return {
    index,
    session: undefined,
    restartAttempt: 0,
    cancelRestart: undefined,
    unsupported: false,
    sessionsStarted: 0,
    restarts: 0,
    past: { resends: 0, reconnects: 0 },
    upSince: undefined,
    rttMs: undefined,
    lastError: undefined,
    counters: { packetsSent: 0, bytesSent: 0, packetsReceived: 0, bytesReceived: 0 },
    bound: { reportsSent: 0, pastDrops: 0, latest: undefined },
  };
}

/** Whether the slot's session can carry packets now (up, and its WebSocket not resuming). */
export function slotLive(slot: StripeSlot): boolean {
  const session = slot.session;
  return session !== undefined && session.up && !session.ended && session.channel.stats().state === "up";
}

/**
 * The session a packet from the TUN goes on: the live one its flow hashes to (flow-hash.ts).
 * With none live, one that is up but resuming (its channel queues until the WebSocket is back),
 * as a single session always did; with one slot, its session whenever it is up.
 */
export function sessionForPacket(slots: readonly StripeSlot[], live: readonly StripeSlot[], packet: Uint8Array): Session | undefined {
  if (slots.length === 1) {
    const only = slots[0]!.session;
    return only?.up ? only : undefined;
  }
  const candidates = live.length > 0 ? live : slots.filter((slot) => slot.session?.up);
  if (candidates.length <= 1) return candidates[0]?.session;
  const index = pickStripe(flowHash(packet) ?? 0, candidates.map((slot) => slot.index));
  return slots[index!]!.session;
}

export function slotState(slot: StripeSlot, tunnelEnded: boolean): TunnelState {
  const session = slot.session;
  if (tunnelEnded || slot.unsupported) return "down";
  if (session?.up !== true) return "connecting";
  return session.channel.stats().state === "resuming" ? "resuming" : "up";
}

export function slotStatus(slot: StripeSlot, tunnelEnded: boolean): TunnelStripeStatus {
  const channel = slot.session?.channel.stats();
  return {
    index: slot.index,
    state: slotState(slot, tunnelEnded),
    sessionId: channel?.sessionId,
    upSince: slot.upSince,
    ...slot.counters,
    resends: slot.past.resends + (channel?.resends ?? 0),
    reconnects: slot.restarts + slot.past.reconnects + (channel?.reconnects ?? 0),
    rttMs: slot.rttMs,
    lastError: slot.lastError,
    inFlightBound: boundStatus(slot),
  };
}

/** Packets the agent's in-flight bound dropped toward this slot, over all its sessions. */
export function slotBoundDrops(slot: StripeSlot): number {
  return slot.bound.pastDrops + (slot.bound.latest?.drops ?? 0);
}

function boundStatus(slot: StripeSlot): TunnelStripeStatus["inFlightBound"] {
  const { latest, reportsSent } = slot.bound;
  if (reportsSent === 0 && latest === undefined) return undefined;
  return {
    reportsSent,
    drops: slotBoundDrops(slot),
    limitBytes: latest?.limitBytes,
    inFlightBytes: latest?.inFlightBytes,
    rateBytesPerSecond: latest?.rateBytesPerSecond,
    minRttMs: latest === undefined ? undefined : latest.minRttMicros / 1000,
  };
}
