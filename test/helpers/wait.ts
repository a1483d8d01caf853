/**
 * Waiting without fixed sleeps. Prefer awaiting an event (a promise, `withTimeout`); poll with
 * `waitFor` only where nothing emits one (a file appearing, a port opening, an external
 * process's state).
 */

export class TimeoutError extends Error {
  override name = "TimeoutError";
}

export interface WaitOptions {
  timeoutMs: number;
  /** Poll interval for `waitFor`; short by default because every check here is cheap. */
  intervalMs?: number;
  /** Said in the error on timeout. */
  what?: string;
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned) or the time is up.
 * A predicate that throws counts as "not yet"; the last error is attached on timeout.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitOptions,
): Promise<Exclude<T, false | 0 | "" | null | undefined>> {
  const { timeoutMs, intervalMs = 10, what = "condition" } = options;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as Exclude<T, false | 0 | "" | null | undefined>;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      const suffix = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
    }
    await Bun.sleep(Math.min(intervalMs, left));
  }
}

/** Resolves/rejects with `promise`, or rejects with TimeoutError after timeoutMs. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what = "event"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve/reject exposed, for turning callbacks into awaitable events. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Waiters keyed on a condition over changing state: `notify()` after every state change, and
 * `until(check, timeoutMs)` resolves as soon as `check()` holds. Event-driven, no polling.
 */
export class Condition {
  private waiters = new Set<{ check: () => boolean; done: () => void }>();

  notify(): void {
    for (const w of [...this.waiters]) {
      if (w.check()) {
        this.waiters.delete(w);
        w.done();
      }
    }
  }

  until(check: () => boolean, timeoutMs: number, what = "condition"): Promise<void> {
    if (check()) return Promise.resolve();
    const d = deferred<void>();
    const waiter = { check, done: () => d.resolve() };
    this.waiters.add(waiter);
    return withTimeout(d.promise, timeoutMs, what).finally(() => this.waiters.delete(waiter));
  }
}
