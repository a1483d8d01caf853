/**
 * The reconnect loop of one outage: try, and on failure wait a backoff delay and try again,
 * until an attempt works, a failure is fatal (the session is gone, the URL is refused), the
 * caller stops, or the outage has lasted longer than the budget. The outage record is the
 * caller's: it survives sockets that open and drop again at once, so such a loop still ends.
 * No timers of its own: `sleep` and `now` are injected (fake clock in the tests).
 */
import { nextAttemptDelayMs } from "./reconnect-backoff.ts";

export interface Outage {
  /** When the outage began (the caller's clock). */
  readonly since: number;
  /** Failed attempts so far, for the backoff. */
  attempts: number;
}

export interface RetryInput {
  /** One try; true when the connection is up, false when the caller stopped meanwhile. */
  readonly attempt: () => Promise<boolean>;
  readonly isFatal: (error: unknown) => boolean;
  readonly stopped: () => boolean;
  readonly now: () => number;
  readonly outage: Outage;
  readonly budgetMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

export type RetryOutcome =
  | { readonly kind: "up" }
  | { readonly kind: "stopped" }
  | { readonly kind: "fatal"; readonly error: unknown }
  | { readonly kind: "exhausted"; readonly error: unknown };

export async function retryWithinBudget(input: RetryInput): Promise<RetryOutcome> {
  const deadline = input.outage.since + input.budgetMs;
  while (!input.stopped()) {
    try {
      return (await input.attempt()) ? { kind: "up" } : { kind: "stopped" };
    } catch (error) {
      if (input.isFatal(error)) return { kind: "fatal", error };
      const delay = nextAttemptDelayMs(input.outage.attempts++, input.now(), deadline);
      if (delay === undefined) return { kind: "exhausted", error };
      input.onRetry?.(input.outage.attempts, delay, error);
      await input.sleep(delay);
    }
  }
  return { kind: "stopped" };
}
