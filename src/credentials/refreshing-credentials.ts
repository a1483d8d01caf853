/**
 * The credential cache every subcommand serves from: one in-flight fetch at a time, refresh
 * ahead of expiry in the background, and static stability (keep serving the last good
 * credentials while STS fails, retrying with capped exponential back-off).
 *
 * This is what the Python CredProxy lacks (credproxy-compat.md §6, §12): it calls STS on the
 * request path, lets 10 cold requests make 10 AssumeRole calls, serves credentials to their last
 * second, and never retries.
 */
import { CredproxyError, ErrorCode } from "../errors";
import type { Logger } from "../log";
import { credentialStatus } from "./credential-status";
import { refreshErrors } from "./refresh-errors";
import { refreshTimer } from "./refresh-timer";
import { callWithTimeout, realTimers, type Timers } from "./call-with-timeout";
import { EXPIRY_SAFETY_MS, refreshLeadMs, retryDelayMs } from "./refresh-policy";
import type { RoleCredentials, RoleCredentialProvider } from "./types";

export type { Timers } from "./call-with-timeout";

export type CredentialState = "pending" | "ready" | "refreshing" | "failing";

export interface CredentialStatus {
  /**
   * `pending`: nothing fetched yet (or invalidated). `ready`: valid credentials, last attempt
   * succeeded. `refreshing`: valid credentials and a refresh is in flight. `failing`: the last
   * attempt failed; `serving` says whether older credentials are still being handed out.
   */
  readonly state: CredentialState;
  /** True when `get()` would answer from the cache right now (what /health reports). */
  readonly serving: boolean;
  readonly reason?: string;
  readonly code?: ErrorCode;
  /** Expiry of the cached credentials, if any (they may already be past it). */
  readonly expiresAt?: Date;
  readonly lastSuccessAt?: Date;
  /** When the next scheduled fetch (refresh-ahead or retry) will run. */
  readonly nextAttemptAt?: Date;
  readonly consecutiveFailures: number;
}

export interface RefreshDetail {
  readonly durationMs: number;
  readonly consecutiveFailures: number;
  /** Expiry of the new credentials (success only). */
  readonly expiration?: Date;
  readonly error?: CredproxyError;
}

export interface RefreshingCredentialsOptions {
  /** The service name, used in messages and logs. */
  readonly name: string;
  /** What messages say the credentials are for; default `service '<name>'`. */
  readonly subject?: string | undefined;
  /**
   * Failures before the first success are logged at debug only: for a caller that ends the
   * process on that first failure and prints the error itself (broker exec), so it is said once.
   */
  readonly quietUntilFirstSuccess?: boolean | undefined;
  readonly fetch: RoleCredentialProvider;
  /** Served credentials keep at least this much life in normal operation. */
  readonly refreshBufferSeconds: number;
  /**
   * CredProxy's `retry_delay` (parsed but never used upstream). We read it as the *cap* of the
   * back-off between attempts after a failure: retries start at 1 s and double up to this value,
   * so a short outage recovers within seconds while a long one costs one STS call per cap.
   */
  readonly retryDelaySeconds: number;
  /** One fetch (source credentials + AssumeRole) is abandoned after this long. */
  readonly requestTimeoutSeconds: number;
  readonly logger?: Logger | undefined;
  readonly now?: (() => number) | undefined;
  /** Returns [0, 1); 0 means no jitter. */
  readonly random?: (() => number) | undefined;
  readonly timers?: Timers | undefined;
  readonly onRefresh?: ((outcome: "success" | "failure", detail: RefreshDetail) => void) | undefined;
}

export interface RefreshingCredentials {
  /** Cached credentials if still valid; otherwise waits for the (shared) fetch. */
  get(): Promise<RoleCredentials>;
  /**
   * The cached credentials if they can be served now, else undefined; like get(), it starts a
   * background refresh when they are due. Lets the HTTP hot path answer without a Promise.
   */
  peek(): RoleCredentials | undefined;
  status(): CredentialStatus;
  /** Starts a warm-up fetch and the background schedule. */
  start(): void;
  /** Clears timers and aborts in-flight work. `get()` still works afterwards, on demand only. */
  stop(): void;
  /** Drops cached credentials and any error state; the next `get()` fetches afresh. */
  invalidate(): void;
}

const noop = (): void => {};

export function createRefreshingCredentials(options: RefreshingCredentialsOptions): RefreshingCredentials {
  const { name, fetch, logger } = options;
  const subject = options.subject ?? `service '${name}'`;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const timers = options.timers ?? realTimers;
  const bufferMs = options.refreshBufferSeconds * 1000;
  const retryCapMs = options.retryDelaySeconds * 1000;
  const timeoutMs = options.requestTimeoutSeconds * 1000;

  let current: RoleCredentials | undefined;
  let refreshAt = 0;
  let lastSuccessAt: number | undefined;
  let lastError: CredproxyError | undefined;
  let consecutiveFailures = 0;
  let backoffUntil: number | undefined;
  let inflight: Promise<RoleCredentials> | undefined;
  let inflightController: AbortController | undefined;
  let started = false;
  let stopped = false;
  /** Bumped by invalidate() and stop(): results of fetches begun earlier are then discarded. */
  let generation = 0;
  let warnedShortLifetime = false;
  const errors = refreshErrors(subject);
  const ownError = errors.own;
  const wrap = errors.wrap;
  const timer = refreshTimer(timers, now, () => refresh().catch(noop));

  const usable = (creds: RoleCredentials | undefined): creds is RoleCredentials =>
    creds !== undefined && creds.expiration.getTime() - EXPIRY_SAFETY_MS > now();

  function schedule(at: number): void {
    if (stopped) timer.clear();
    else timer.set(at);
  }

  function refresh(): Promise<RoleCredentials> {
    if (inflight) return inflight;
    timer.clear();
    const gen = generation;
    const startedAt = now();
    const controller = new AbortController();
    const promise = callWithTimeout(fetch, {
      controller,
      timeoutMs,
      timers,
      onTimeout: () =>
        ownError(
          ErrorCode.StsTimeout,
          `the request timed out after ${options.requestTimeoutSeconds} s`,
          "Check that STS (or the source credential provider) is reachable; credentials.request_timeout sets the limit",
        ),
    }).then(
      (creds) => {
        if (gen !== generation) return creds;
        settle(promise);
        if (creds.expiration.getTime() - EXPIRY_SAFETY_MS <= now()) {
          const err = ownError(
            ErrorCode.AssumeRole,
            `STS returned credentials that are already expired (${creds.expiration.toISOString()})`,
            "Check the system clock, and that DurationSeconds is at least 900",
          );
          failed(err, startedAt);
          throw err;
        }
        succeeded(creds, startedAt);
        return creds;
      },
      (error: unknown) => {
        const err = wrap(error);
        if (gen === generation) {
          settle(promise);
          failed(err, startedAt);
        }
        throw err;
      },
    );
    promise.catch(noop); // background refreshes have no other listener
    inflight = promise;
    inflightController = controller;
    return promise;
  }

  function settle(promise: Promise<RoleCredentials>): void {
    if (inflight !== promise) return;
    inflight = undefined;
    inflightController = undefined;
  }

  function succeeded(creds: RoleCredentials, startedAt: number): void {
    const at = now();
    const recovered = consecutiveFailures > 0;
    const first = lastSuccessAt === undefined;
    current = creds;
    lastSuccessAt = at;
    lastError = undefined;
    consecutiveFailures = 0;
    backoffUntil = undefined;
    const expiresAt = creds.expiration.getTime();
    const lifetime = expiresAt - at;
    const lead = refreshLeadMs(lifetime, bufferMs);
    refreshAt = expiresAt - lead;
    if (lead < bufferMs && !warnedShortLifetime) {
      warnedShortLifetime = true;
      logger?.warn("refresh_buffer_seconds is not shorter than the credential lifetime; raise DurationSeconds", {
        service: name,
        lifetimeSeconds: Math.round(lifetime / 1000),
        refreshBufferSeconds: bufferMs / 1000,
      });
    }
    schedule(refreshAt);
    const fields = { service: name, expiresAt: creds.expiration.toISOString(), refreshAt: new Date(refreshAt).toISOString() };
    if (recovered) logger?.info("credentials recovered", fields);
    else if (first) logger?.info("credentials fetched", fields);
    else logger?.debug("credentials refreshed", fields);
    options.onRefresh?.("success", { durationMs: at - startedAt, consecutiveFailures: 0, expiration: creds.expiration });
  }

  function failed(error: CredproxyError, startedAt: number): void {
    const at = now();
    consecutiveFailures += 1;
    lastError = error;
    backoffUntil = at + retryDelayMs(consecutiveFailures, retryCapMs, random);
    schedule(backoffUntil);
    const stale = usable(current) ? current.expiration.toISOString() : undefined;
    const level = stale ? "warn" : options.quietUntilFirstSuccess && lastSuccessAt === undefined ? "debug" : "error";
    logger?.[level](stale ? "credential refresh failed; serving cached credentials" : "credential refresh failed", {
      service: name,
      code: error.code,
      error: error.message,
      consecutiveFailures,
      retryAt: new Date(backoffUntil).toISOString(),
      ...(stale ? { servingUntil: stale } : {}),
    });
    options.onRefresh?.("failure", { durationMs: at - startedAt, consecutiveFailures, error });
  }

  function discardInflight(reason: CredproxyError | undefined): void {
    const controller = inflightController;
    inflight = undefined;
    inflightController = undefined;
    if (reason) controller?.abort(reason);
  }

  function peek(): RoleCredentials | undefined {
    if (!usable(current)) return undefined;
    const t = now();
    const inBackoff = backoffUntil !== undefined && t < backoffUntil;
    if (t >= refreshAt && !inflight && !inBackoff) refresh().catch(noop);
    return current;
  }

  return {
    get(): Promise<RoleCredentials> {
      const cached = peek();
      if (cached) return Promise.resolve(cached);
      if (inflight) return inflight;
      if (lastError && backoffUntil !== undefined && now() < backoffUntil) return Promise.reject(lastError);
      return refresh();
    },

    peek,

    status(): CredentialStatus {
      return credentialStatus({
        serving: usable(current),
        refreshing: inflight !== undefined,
        lastError,
        consecutiveFailures,
        expiresAt: current?.expiration,
        lastSuccessAt,
        nextAttemptAt: timer.at ?? backoffUntil,
      });
    },

    start(): void {
      stopped = false;
      if (started && (inflight || timer.at !== undefined)) return;
      started = true;
      if (usable(current) && now() < refreshAt) schedule(refreshAt);
      else refresh().catch(noop);
    },

    stop(): void {
      stopped = true;
      started = false;
      generation += 1;
      timer.clear();
      discardInflight(ownError(ErrorCode.AssumeRole, "credproxy is stopping"));
    },

    invalidate(): void {
      generation += 1;
      timer.clear();
      // Callers already waiting keep their answer; it is just not cached.
      discardInflight(undefined);
      current = undefined;
      refreshAt = 0;
      lastError = undefined;
      consecutiveFailures = 0;
      backoffUntil = undefined;
      if (started && !stopped) refresh().catch(noop);
    },
  };
}
