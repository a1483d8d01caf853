/**
 * The smallest (or largest) sample of the last `windowMs`, kept in a monotonic deque, so adding
 * a sample and reading the extreme are O(1) amortised however many samples the window holds.
 * Used by in-flight-bound.ts for the minimum RTT and the maximum delivery rate.
 */
export class WindowedExtreme {
  private readonly samples: { at: number; value: number }[] = [];
  private head = 0;

  constructor(
    private readonly kind: "min" | "max",
    private readonly windowMs: number,
  ) {}

  add(value: number, at: number): void {
    // A sample that is no better than the new one can never be the extreme again.
    while (this.samples.length > this.head && !this.better(this.samples.at(-1)!.value, value)) this.samples.pop();
    this.samples.push({ at, value });
    this.expire(at);
  }

  /** The extreme of the samples within the window before `now`, or undefined when none is. */
  get(now: number): number | undefined {
    this.expire(now);
    return this.head < this.samples.length ? this.samples[this.head]!.value : undefined;
  }

  private better(kept: number, incoming: number): boolean {
    return this.kind === "min" ? kept < incoming : kept > incoming;
  }

  private expire(now: number): void {
    while (this.head < this.samples.length && now - this.samples[this.head]!.at > this.windowMs) this.head++;
    if (this.head > 64 && this.head * 2 > this.samples.length) {
      this.samples.splice(0, this.head);
      this.head = 0;
    }
  }
}
