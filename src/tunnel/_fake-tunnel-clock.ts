/** A TunnelClock for unit tests (tunnel and agent sessions): time moves only when the test says. */
import type { TunnelClock } from "./tunnel-clock.ts";

/** Timers fire only when the test advances the clock. */
export class FakeClock implements TunnelClock {
  private time = 1_000_000;
  private timers: { at: number; callback: () => void; live: boolean }[] = [];
  now = () => this.time;
  setTimer = (callback: () => void, ms: number) => {
    const timer = { at: this.time + ms, callback, live: true };
    this.timers.push(timer);
    return () => void (timer.live = false);
  };
  /** Runs every timer due within `ms`, in order, letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.live = false;
      this.time = due.at;
      due.callback();
      await settle();
    }
    this.time = end;
    await settle();
  }
  pending(): number[] {
    return this.timers.filter((t) => t.live).map((t) => t.at - this.time);
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

