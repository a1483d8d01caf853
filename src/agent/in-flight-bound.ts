/**
 * The agent's end-to-end bound on packets toward the client (docs/tunnel.md, "Queues").
 *
 * The standing queue of a download forms where the agent cannot see it: in the SSM agent's
 * buffer in front of its 1 KiB/1 ms pacing (its socket's receive buffer, or the fake's
 * read-ahead). What the agent can see is how many bytes it sent and, from the client's
 * RX_REPORT frames, how many arrived, so `sent - reported` is every byte on the way, wherever it
 * waits. From the same reports it learns the delivery rate (the largest of the last few
 * seconds: the pacing cap while a bulk flow runs) and the minimum round trip (the path with no
 * queue), and it keeps the bytes in flight at most
 *
 *     target = max(floor, rate × (minRtt + margin))
 *
 * which is the path's bandwidth-delay product plus `margin` of queue: the BBR idea, enforced by
 * dropping packets instead of by pacing a sender we do not control. Above the target, drops are
 * spaced as CoDel spaces them: none while the excess is younger than one interval (a burst
 * that drains by itself costs nothing), then one, then the next after interval/√count, until
 * the bytes in flight are back under the target. One drop per round trip is all a loss-based
 * sender (cubic) needs to back off, and a sender that ignores single losses (bbr) loses little
 * throughput to so few. At twice the target every new packet is dropped (drop-tail), whatever
 * the sender does, so the hidden queue stays bounded even for a flow that does not back off.
 * Small packets (ACKs, pings, DNS) get a little headroom over the limit, so a bulk flow that keeps
 * the queue at its limit does not also cost every ping.
 *
 * Pure: the caller passes the time, so tests drive it with a fake clock. Until the first report
 * it admits everything (a client without reports gets the behaviour from before the bound).
 */
import { WindowedExtreme } from "./windowed-extreme.ts";

export interface InFlightBoundOptions {
  /** The limit never goes below this (startup, and paths whose delay-bandwidth product is tiny). */
  readonly floorBytes?: number;
  /** Queueing delay allowed on top of the minimum RTT. */
  readonly marginMs?: number;
  /** How long a minimum RTT sample counts. */
  readonly minRttWindowMs?: number;
  /** How long a delivery rate sample counts. */
  readonly rateWindowMs?: number;
  /** How long the bytes in flight may stay over the target before the first drop. */
  readonly intervalMs?: number;
  /** Packets up to this size are never dropped below the hard limit, and may go `smallHeadroomBytes` over it. */
  readonly smallPacketBytes?: number;
  readonly smallHeadroomBytes?: number;
}

export interface InFlightBoundStats {
  /** Reports received from the client. */
  reports: number;
  /** Packets (and their bytes) dropped because the bytes in flight were over the target. */
  drops: number;
  dropBytes: number;
  inFlightBytes: number;
  /** The target; undefined until the first report. Every packet is dropped above twice this. */
  limitBytes: number | undefined;
  rateBytesPerSecond: number | undefined;
  minRttMs: number | undefined;
}

export const DEFAULT_BOUND_FLOOR_BYTES = 24 * 1024;
export const DEFAULT_BOUND_MARGIN_MS = 10;
export const DEFAULT_BOUND_INTERVAL_MS = 40;
/** The hard limit, as a multiple of the target. */
const HARD_LIMIT_FACTOR = 2;
const MIN_RTT_WINDOW_MS = 10_000;
const RATE_WINDOW_MS = 2_000;
/** A delivery rate is measured over at least this long, so report timing jitter averages out. */
const RATE_SPAN_MS = 50;
const RATE_HISTORY_MS = 100;
const SMALL_PACKET_BYTES = 128;
const SMALL_HEADROOM_BYTES = 4096;
/** Send marks kept at most; older ones are let go (they only cost an RTT sample). */
const MAX_MARKS = 8192;

export class InFlightBound {
  private sentBytes = 0;
  private reportedBytes = 0;
  private reported = false;
  /** (cumulative bytes sent after a packet, when it was sent), oldest first from `head`. */
  private readonly marks: { end: number; at: number }[] = [];
  private head = 0;
  private readonly history: { at: number; bytes: number }[] = [];
  private readonly minRtt: WindowedExtreme;
  private readonly rate: WindowedExtreme;
  private readonly floor: number;
  private readonly margin: number;
  private readonly small: number;
  private readonly headroom: number;
  private readonly interval: number;
  /** When the bytes in flight went over the target (undefined: under it), and the CoDel state. */
  private overSince: number | undefined;
  private dropCount = 0;
  private nextDropAt = 0;
  private readonly counters = { reports: 0, drops: 0, dropBytes: 0 };

  constructor(options: InFlightBoundOptions = {}) {
    this.floor = options.floorBytes ?? DEFAULT_BOUND_FLOOR_BYTES;
    this.margin = options.marginMs ?? DEFAULT_BOUND_MARGIN_MS;
    this.small = options.smallPacketBytes ?? SMALL_PACKET_BYTES;
    this.headroom = options.smallHeadroomBytes ?? SMALL_HEADROOM_BYTES;
    this.interval = options.intervalMs ?? DEFAULT_BOUND_INTERVAL_MS;
    this.minRtt = new WindowedExtreme("min", options.minRttWindowMs ?? MIN_RTT_WINDOW_MS);
    this.rate = new WindowedExtreme("max", options.rateWindowMs ?? RATE_WINDOW_MS);
  }

  get inFlightBytes(): number {
    return this.sentBytes - this.reportedBytes;
  }

  /** The target of bytes in flight now; Infinity until the client has reported. */
  limit(now: number): number {
    if (!this.reported) return Infinity;
    const rate = this.rate.get(now);
    const rtt = this.minRtt.get(now);
    if (rate === undefined || rtt === undefined) return this.floor;
    return Math.max(this.floor, Math.round((rate * (rtt + this.margin)) / 1000));
  }

  /** Whether a packet of `bytes` may be sent now; a refusal is counted as a drop. */
  admit(bytes: number, now: number): boolean {
    const target = this.limit(now);
    const after = this.inFlightBytes + bytes;
    const small = bytes <= this.small;
    if (after > target * HARD_LIMIT_FACTOR + (small ? this.headroom : 0)) return this.drop(bytes);
    if (after <= target) {
      this.overSince = undefined;
      return true;
    }
    if (small) return true;
    return this.spacedDrop(now) ? this.drop(bytes) : true;
  }

  /**
   * Pacing, for a sender that must not drop (socks mode's streams): whether `bytes` more may go
   * now without the bytes in flight passing the target. Small frames get the same headroom as
   * small packets, so an interactive reply passes a bulk stream held at the target; with nothing
   * in flight anything may go, so a frame larger than the target cannot wait forever.
   */
  mayPace(bytes: number, now: number): boolean {
    const after = this.inFlightBytes + bytes;
    return this.inFlightBytes === 0 || after <= this.limit(now) + (bytes <= this.small ? this.headroom : 0);
  }

  /** A packet of `bytes` was handed to the connection. */
  sent(bytes: number, now: number): void {
    this.sentBytes += bytes;
    this.marks.push({ end: this.sentBytes, at: now });
    if (this.marks.length - this.head > MAX_MARKS) this.head++;
    this.compact();
  }

  /** The client's RX_REPORT: `received` packet bytes so far, in all. */
  report(received: number, now: number): void {
    // A report can only grow and never cover bytes not sent; anything else is ignored.
    if (received < this.reportedBytes || received > this.sentBytes) return;
    this.counters.reports++;
    this.reported = true;
    this.reportedBytes = received;
    let newest: { at: number } | undefined;
    while (this.head < this.marks.length && this.marks[this.head]!.end <= received) newest = this.marks[this.head++];
    this.compact();
    // The newest packet the report covers was sent at `newest.at`: one round trip through every queue.
    if (newest !== undefined) this.minRtt.add(now - newest.at, now);
    this.sampleRate(received, now);
  }

  /** Over the target: true when this packet is the one to drop (CoDel's control law). */
  private spacedDrop(now: number): boolean {
    if (this.overSince === undefined) {
      this.overSince = now;
      this.dropCount = 0;
      return false;
    }
    if (this.dropCount === 0 ? now - this.overSince < this.interval : now < this.nextDropAt) return false;
    this.dropCount++;
    this.nextDropAt = now + this.interval / Math.sqrt(this.dropCount);
    return true;
  }

  private drop(bytes: number): false {
    this.counters.drops++;
    this.counters.dropBytes += bytes;
    return false;
  }

  stats(now: number): InFlightBoundStats {
    const limit = this.limit(now);
    return {
      ...this.counters,
      inFlightBytes: this.inFlightBytes,
      limitBytes: Number.isFinite(limit) ? limit : undefined,
      rateBytesPerSecond: this.rate.get(now),
      minRttMs: this.minRtt.get(now),
    };
  }

  /** Bytes per second over the last ~100 ms of reports, once they span 50 ms. */
  private sampleRate(received: number, now: number): void {
    const history = this.history;
    history.push({ at: now, bytes: received });
    while (history.length > 2 && now - history[1]!.at >= RATE_HISTORY_MS) history.shift();
    const oldest = history[0]!;
    const span = now - oldest.at;
    if (span >= RATE_SPAN_MS) this.rate.add(((received - oldest.bytes) * 1000) / span, now);
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.marks.length) {
      this.marks.splice(0, this.head);
      this.head = 0;
    }
  }
}
