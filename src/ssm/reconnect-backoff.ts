/**
 * Delays between ResumeSession attempts after the data channel's socket is lost. The plugin's
 * budget of 5 attempts (≈ 6 s) loses sessions at the hourly reconnect (session-manager-plugin
 * #135), so the budget here is time — minutes — with exponential backoff capped at 5 s.
 */
export interface BackoffSettings {
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { firstDelayMs: 100, maxDelayMs: 5000, factor: 2 };

/** The delay before retry number `attempt` (0 = the first retry after a failure). */
export function backoffDelayMs(attempt: number, settings: BackoffSettings = DEFAULT_BACKOFF): number {
  return Math.min(settings.maxDelayMs, settings.firstDelayMs * settings.factor ** Math.max(0, attempt));
}

/** The delay to wait before the next attempt, or undefined once the budget ending at `deadline` would be overrun. */
export function nextAttemptDelayMs(attempt: number, now: number, deadline: number, settings: BackoffSettings = DEFAULT_BACKOFF): number | undefined {
  const left = deadline - now;
  if (left <= 0) return undefined;
  return Math.min(backoffDelayMs(attempt, settings), left);
}
