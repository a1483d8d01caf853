/**
 * The one pending wake-up of a refreshing cache (a refresh ahead of expiry, or a retry after a
 * failure): setting it replaces the previous one, and `at` is what /health reports as the next
 * attempt. Delays are capped to what setTimeout can hold.
 */
import type { Timers } from "./call-with-timeout";

/** setTimeout stores delays in an int32. */
const MAX_TIMER_MS = 2_147_483_647;

export interface RefreshTimer {
  /** When the pending wake-up fires; undefined when none is pending. */
  readonly at: number | undefined;
  set(at: number): void;
  clear(): void;
}

export function refreshTimer(timers: Timers, now: () => number, fire: () => void): RefreshTimer {
  let pending: { handle: unknown; at: number } | undefined;
  const clear = (): void => {
    if (pending) timers.clear(pending.handle);
    pending = undefined;
  };
  return {
    get at() {
      return pending?.at;
    },
    set(at) {
      clear();
      const delay = Math.min(Math.max(0, at - now()), MAX_TIMER_MS);
      pending = {
        at,
        handle: timers.set(() => {
          pending = undefined;
          fire();
        }, delay),
      };
    },
    clear,
  };
}
