/**
 * Runs one abortable call under a deadline. Used by the credential cache so that a hung STS
 * call or credential_process cannot hold a refresh forever.
 */

/** A scheduler, injectable so tests drive time by hand. */
export interface Timers {
  set(callback: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

/** setTimeout/clearTimeout, unref'd: a pending background refresh alone must not keep the process alive. */
export const realTimers: Timers = {
  set: (callback, delayMs) => {
    const handle = setTimeout(callback, delayMs);
    handle.unref?.();
    return handle;
  },
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Calls `fn` with the controller's signal. When `timeoutMs` passes, the signal is aborted with
 * `onTimeout()`. The returned promise rejects with the abort reason as soon as the signal fires
 * (timeout or an outside `controller.abort(reason)`), even if `fn` ignores its signal.
 */
export function callWithTimeout<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  options: { controller: AbortController; timeoutMs: number; timers: Timers; onTimeout: () => unknown },
): Promise<T> {
  const { controller, timers } = options;
  const signal = controller.signal;
  return new Promise<T>((resolve, reject) => {
    const handle = timers.set(() => controller.abort(options.onTimeout()), options.timeoutMs);
    const onAbort = (): void => {
      timers.clear(handle);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const done = (): void => {
      timers.clear(handle);
      signal.removeEventListener("abort", onAbort);
    };
    let result: Promise<T>;
    try {
      result = fn(signal);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(signal.aborted ? signal.reason : error);
      },
    );
  });
}
