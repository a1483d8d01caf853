/**
 * The numbers behind refresh-ahead and retry, kept apart from the cache's state machine so they
 * can be read (and tested) on their own.
 *
 * Why these numbers: botocore treats credentials with under 15 min left as due for an advisory
 * refresh and under 10 min as mandatory; JS v3 and Go v2 use 5 min
 * (reference/aws-credential-protocols.md §1). A credential served with less than 15 min left
 * makes every boto3 credential read call us again, so we refresh while 20 min remain when the
 * lifetime allows it.
 */

/** Credentials this close to expiry are never served: clients need time to use them. */
export const EXPIRY_SAFETY_MS = 10_000;
/** Cap on the half-lifetime lead: 20 min, above botocore's 15-min advisory window. */
export const MAX_HALF_LIFE_LEAD_MS = 1_200_000;
/** Fresh credentials are never due for refresh sooner than this (or half their lifetime). */
export const MIN_REFRESH_INTERVAL_MS = 60_000;
/** The first retry after a failure waits about this long; each further failure doubles it. */
export const FIRST_RETRY_MS = 1_000;

/**
 * How long before expiry to refresh: `max(buffer, min(20 min, lifetime / 2))`, so served
 * credentials keep at least `refresh_buffer_seconds` of life and, for lifetimes of 40 min or
 * more, stay out of botocore's 15-min window.
 *
 * The lead is clamped to `lifetime - min(60 s, lifetime / 2)`: a buffer as long as the lifetime
 * would otherwise make fresh credentials due at once and call STS in a loop.
 */
export function refreshLeadMs(lifetimeMs: number, bufferMs: number): number {
  const wanted = Math.max(bufferMs, Math.min(MAX_HALF_LIFE_LEAD_MS, lifetimeMs / 2));
  const minInterval = Math.min(MIN_REFRESH_INTERVAL_MS, lifetimeMs / 2);
  return Math.max(0, Math.min(wanted, lifetimeMs - minInterval));
}

/**
 * The wait before retry number `failures` (1-based): capped exponential back-off with "equal
 * jitter". The ceiling is `min(cap, 1 s × 2^(failures-1))`; the wait is between half of it and
 * all of it, so many services failing together do not retry in lock-step.
 *
 * `cap` is CredProxy's `retry_delay` (upstream parses it and never reads it); we read it as the
 * longest wait between attempts while STS or the source keeps failing.
 *
 * @param random returns a number in [0, 1); 0 gives the full ceiling.
 */
export function retryDelayMs(failures: number, capMs: number, random: () => number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const ceiling = Math.min(capMs, FIRST_RETRY_MS * 2 ** exponent);
  return ceiling - (ceiling / 2) * random();
}
