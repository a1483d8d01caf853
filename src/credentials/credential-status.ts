/**
 * What a refreshing cache reports about itself (/health, `credproxy healthcheck`), derived from
 * its state in one place:
 *
 *   pending     nothing fetched yet, or invalidated
 *   ready       valid credentials, and the last attempt succeeded
 *   refreshing  valid credentials, and a refresh is in flight
 *   failing     the last attempt failed; `serving` says whether older credentials still go out
 */
import type { CredproxyError } from "../errors";
import type { CredentialState, CredentialStatus } from "./refreshing-credentials";

export interface CacheSnapshot {
  readonly serving: boolean;
  readonly refreshing: boolean;
  readonly lastError: CredproxyError | undefined;
  readonly consecutiveFailures: number;
  readonly expiresAt: Date | undefined;
  readonly lastSuccessAt: number | undefined;
  readonly nextAttemptAt: number | undefined;
}

export function credentialStatus(s: CacheSnapshot): CredentialStatus {
  const state: CredentialState = s.lastError ? "failing" : s.refreshing && s.serving ? "refreshing" : s.serving ? "ready" : "pending";
  return {
    state,
    serving: s.serving,
    consecutiveFailures: s.consecutiveFailures,
    ...(s.lastError ? { reason: s.lastError.message, code: s.lastError.code } : {}),
    ...(s.expiresAt ? { expiresAt: s.expiresAt } : {}),
    ...(s.lastSuccessAt !== undefined ? { lastSuccessAt: new Date(s.lastSuccessAt) } : {}),
    ...(s.nextAttemptAt !== undefined ? { nextAttemptAt: new Date(s.nextAttemptAt) } : {}),
  };
}
