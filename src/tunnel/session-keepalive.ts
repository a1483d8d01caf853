/**
 * A session's keepalive: a PING every interval, whose PONG gives the RTT and proves the agent
 * is there; the session ends after the PONG timeout without one (ssm-tunnel.md §9).
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { CloseReason, encodeClose, encodePing, encodeStripesLive, PING_INTERVAL_MS } from "./framing.ts";
import type { Session } from "./stripe-slot.ts";
import type { TunnelClock } from "./tunnel-clock.ts";
import { PONG_TIMEOUT_MS } from "./tunnel-types.ts";

/** What the keepalive needs from the tunnel it runs in. */
export interface Keepalive {
  readonly clock: TunnelClock;
  readonly pingIntervalMs?: number | undefined;
  readonly pongTimeoutMs?: number | undefined;
  /** The live set now, sent again with every PING on a striped session. */
  liveMask(): number;
  endSession(session: Session, error: CredproxyError): void;
}

export function schedulePing(session: Session, keepalive: Keepalive): void {
  const interval = keepalive.pingIntervalMs ?? PING_INTERVAL_MS;
  session.cancelPing = keepalive.clock.setTimer(() => {
    if (session.ended) return;
    const silentMs = keepalive.clock.now() - session.lastPongAt;
    const limit = keepalive.pongTimeoutMs ?? PONG_TIMEOUT_MS;
    if (silentMs >= limit) {
      session.channel.write(encodeClose(CloseReason.Timeout, "no PONG"));
      return keepalive.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, `no PONG from the agent for ${Math.round(silentMs / 1000)} s`));
    }
    sendPing(session, keepalive.clock);
    // Again with every PING, in case the one sent on the change found the channel full.
    if (session.striped) session.channel.write(encodeStripesLive(keepalive.liveMask()));
    schedulePing(session, keepalive);
  }, interval);
}

export function sendPing(session: Session, clock: TunnelClock): void {
  session.channel.write(encodePing(session.nextPingId++, Math.round(clock.now() * 1000)));
}
