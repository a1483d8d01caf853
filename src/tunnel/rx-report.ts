/**
 * The client's half of the in-flight bound (docs/tunnel.md, "Queues"): RX_REPORT frames saying
 * how many bytes arrived so far, in all, so the agent knows how many are still on the way.
 * Shared by `tunnel up` (packet bytes) and `tunnel socks` (the bytes of every frame).
 */
import { encodeRxReport } from "./frame-codec.ts";
import type { TunnelClock } from "./tunnel-clock.ts";

/** RX_REPORT once this many bytes arrived since the last, or this long after the first of them. */
export const RX_REPORT_BYTES = 16 * 1024;
export const RX_REPORT_MS = 10;

/** What a session keeps for its reports. */
export interface RxReportState {
  /** Bytes received, and as far as the last RX_REPORT said. */
  receivedBytes: number;
  reportedBytes: number;
  /** Set while a report timer is armed; cancels it. */
  cancelReport: (() => void) | undefined;
}

/**
 * After bytes arrived: `send` now when 16 KiB are unreported, else 10 ms after the first
 * unreported byte. The agent needs to see deliveries promptly (a late report looks like bytes
 * still on the way), but one report per frame would double the messages going up.
 */
export function scheduleRxReport(state: RxReportState, clock: TunnelClock, send: () => void): void {
  const unreported = state.receivedBytes - state.reportedBytes;
  if (unreported >= RX_REPORT_BYTES) return send();
  if (unreported > 0 && state.cancelReport === undefined) state.cancelReport = clock.setTimer(send, RX_REPORT_MS);
}

/** Writes RX_REPORT for everything received so far; true when one went out. */
export function writeRxReport(state: RxReportState, write: (frame: Uint8Array) => boolean): boolean {
  state.cancelReport?.();
  state.cancelReport = undefined;
  if (state.receivedBytes === state.reportedBytes) return false;
  // A report the channel refuses (its upload bound is full) is carried by the next: they are cumulative.
  if (!write(encodeRxReport(state.receivedBytes))) return false;
  state.reportedBytes = state.receivedBytes;
  return true;
}
