/**
 * IMDSv2 session tokens: `PUT /latest/api/token` issues one for 1..21600 s, and every metadata
 * GET must present a valid, unexpired one (reference/aws-credential-protocols.md §4).
 *
 * Tokens are 256 random bits, base64url. The store never keeps a token itself, only its
 * SHA-256: a lookup hashes what the client presented and finds the entry by that digest, so
 * the time a lookup takes depends on a hash the caller cannot steer, never on how many leading
 * characters of a real token a guess got right, and a heap dump holds no usable token.
 */
import { randomBytes } from "node:crypto";

/** The TTL range real IMDS and every SDK agree on. */
export const MIN_TOKEN_TTL_SECONDS = 1;
export const MAX_TOKEN_TTL_SECONDS = 21_600;
/** Default bound on live tokens; see `ImdsTokenStoreOptions.maxTokens`. */
export const DEFAULT_MAX_TOKENS = 10_000;

export interface ImdsTokenStoreOptions {
  /** Milliseconds since the epoch; tests pass a fake clock. Default Date.now. */
  now?: (() => number) | undefined;
  /**
   * At most this many live tokens. botocore and the JS SDK ask for a new 6 h token before every
   * credential fetch, so tokens pile up; beyond the bound, expired ones are swept and then the
   * oldest dropped. A client whose token was dropped gets a 401 and simply asks for a new one.
   */
  maxTokens?: number | undefined;
}

export interface ImdsTokenStore {
  /** Issues a token valid for `ttlSeconds` (already validated by parseTokenTtl). */
  issue(ttlSeconds: number): string;
  /** Whether `presented` is a token this store issued and it has not expired. */
  valid(presented: string): boolean;
  readonly size: number;
}

export function createImdsTokenStore(options: ImdsTokenStoreOptions = {}): ImdsTokenStore {
  const now = options.now ?? Date.now;
  const maxTokens = Math.max(1, options.maxTokens ?? DEFAULT_MAX_TOKENS);
  /** digest → expiry (ms). Insertion order is issue order, so the first key is the oldest. */
  const expiries = new Map<string, number>();

  const sweep = (): void => {
    const t = now();
    for (const [key, expiresAt] of expiries) if (expiresAt <= t) expiries.delete(key);
    while (expiries.size >= maxTokens) {
      const oldest = expiries.keys().next().value;
      if (oldest === undefined) break;
      expiries.delete(oldest);
    }
  };

  return {
    issue(ttlSeconds) {
      if (expiries.size >= maxTokens) sweep();
      const token = randomBytes(32).toString("base64url");
      expiries.set(digest(token), now() + ttlSeconds * 1000);
      return token;
    },
    valid(presented) {
      // Real tokens are 43 characters; refuse absurd input before hashing it.
      if (presented.length === 0 || presented.length > 256) return false;
      const key = digest(presented);
      const expiresAt = expiries.get(key);
      if (expiresAt === undefined) return false;
      if (expiresAt <= now()) {
        expiries.delete(key);
        return false;
      }
      return true;
    },
    get size() {
      return expiries.size;
    },
  };
}

/**
 * The TTL header of a token PUT as a number of seconds, or undefined when it is missing or not
 * a whole number in 1..21600 (the request then gets a 400, as from real IMDS).
 */
export function parseTokenTtl(header: string | null): number | undefined {
  if (header === null || !/^[0-9]{1,6}$/.test(header.trim())) return undefined;
  const ttl = Number(header.trim());
  return ttl >= MIN_TOKEN_TTL_SECONDS && ttl <= MAX_TOKEN_TTL_SECONDS ? ttl : undefined;
}

function digest(token: string): string {
  return Bun.CryptoHasher.hash("sha256", token, "base64");
}
