/** `tunnel status` for a client tunnel, assembled from its slots, its TUN and its counters. */
import type { Cidr } from "../net/cidr.ts";
import { describeIpv6 } from "./ipv6-state.ts";
import { slotBoundDrops, slotState, slotStatus, type StripeSlot } from "./stripe-slot.ts";
import type { TunnelCounters, TunnelState, TunnelStatus } from "./tunnel-status.ts";
import type { OpenTun } from "./tunnel-types.ts";

/** What the status is made of, as the tunnel holds it. */
export interface TunnelStatusSource {
  readonly slots: readonly StripeSlot[];
  readonly ended: boolean;
  readonly tun: OpenTun | undefined;
  readonly cidrs: readonly Cidr[];
  readonly startedAt: number;
  readonly counters: TunnelCounters;
  readonly rttMs: number | undefined;
  readonly lastError: string | undefined;
}

export function tunnelStatusOf(source: TunnelStatusSource): TunnelStatus {
  const { slots, ended, tun, cidrs, startedAt, counters, rttMs, lastError } = source;
  const stripes = slots.map((slot) => slotStatus(slot, ended));
  const states = slots.map((slot) => slotState(slot, ended));
  let state: TunnelState = "connecting";
  if (ended) state = "down";
  else if (states.includes("up")) state = "up";
  else if (states.includes("resuming")) state = "resuming";
  const first = slots.find((slot) => slot.session?.up) ?? slots[0]!;
  const upSince = stripes.map((s) => s.upSince).filter((t) => t !== undefined);
  return {
    state,
    sessionId: first.session?.channel.stats().sessionId,
    interface: tun?.up.interface,
    clientAddress: tun?.up.clientAddress,
    agentAddress: tun?.up.agentAddress,
    mtu: tun?.up.mtu,
    routes: cidrs.map((c) => c.text),
    ipv6: tun === undefined ? undefined : describeIpv6(tun.up.ipv6),
    startedAt,
    upSince: upSince.length === 0 ? undefined : Math.min(...upSince),
    packetsSent: counters.packetsSent,
    bytesSent: counters.bytesSent,
    packetsReceived: counters.packetsReceived,
    bytesReceived: counters.bytesReceived,
    drops: { ...counters.drops, inFlightBound: slots.reduce((n, slot) => n + slotBoundDrops(slot), 0) },
    resends: stripes.reduce((n, s) => n + s.resends, 0),
    rttMs,
    reconnects: stripes.reduce((n, s) => n + s.reconnects, 0),
    sessions: slots.reduce((n, slot) => n + slot.sessionsStarted, 0),
    lastError,
    stripes,
  };
}
