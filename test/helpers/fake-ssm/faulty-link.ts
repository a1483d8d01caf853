/**
 * One direction of the fake's message path with the fault switches applied: drop, duplicate,
 * reorder. A held-back (reordered) message is released after the next one, or after a short
 * timer so that the last message of a burst is late rather than lost.
 */
import type { DirectionFaults } from "./fault-switches.ts";

export interface LinkStats {
  passed: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

export class FaultyLink {
  readonly stats: LinkStats = { passed: 0, dropped: 0, duplicated: 0, reordered: 0 };
  private held: { frame: Uint8Array; deliver: (frame: Uint8Array) => void } | undefined;
  private heldTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly faults: () => DirectionFaults,
    private readonly random: () => number,
    private readonly reorderHoldMs = 20,
  ) {}

  /** Sends `frame` through `deliver`, or not, or twice, or later, as the switches say. */
  pass(frame: Uint8Array, deliver: (frame: Uint8Array) => void): void {
    const faults = this.faults();
    this.stats.passed++;
    if (this.random() < faults.drop) {
      this.stats.dropped++;
      return;
    }
    if (this.held === undefined && this.random() < faults.reorder) {
      this.stats.reordered++;
      this.held = { frame, deliver };
      this.heldTimer = setTimeout(() => this.release(), this.reorderHoldMs);
      return;
    }
    deliver(frame);
    if (this.random() < faults.duplicate) {
      this.stats.duplicated++;
      deliver(frame);
    }
    this.release();
  }

  /** Delivers the held-back message, if any. */
  release(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    clearTimeout(this.heldTimer);
    held.deliver(held.frame);
  }

  /** Forgets a held message (its socket is gone; the sender's resend covers it). */
  discard(): void {
    this.held = undefined;
    clearTimeout(this.heldTimer);
  }
}

/** A small seeded PRNG (mulberry32), so a failing fault run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
