/**
 * Proxy authentication: which tenant a request belongs to, from its Proxy-Authorization.
 *
 * A sandbox carries its run token in the proxy URL's userinfo (`http://run:TOKEN@host:port`),
 * which clients send as `Basic base64(user:TOKEN)`; some send `Bearer TOKEN`. Only the password
 * counts, tried as sent and URL-decoded (curl and git send the userinfo as written, percent
 * escapes included). Every known token is compared, in constant time and always all of them,
 * so neither the answer nor its timing tells a wrong token how close it was.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** What a client may present: the candidate tokens of one Proxy-Authorization value. */
export function presentedTokens(header: string | undefined): readonly string[] {
  if (header === undefined) return [];
  const match = /^([A-Za-z]+)[ \t]+(\S+)[ \t]*$/.exec(header);
  if (!match) return [];
  const scheme = match[1]!.toLowerCase();
  const credentials = match[2]!;
  if (scheme === "bearer") return [credentials];
  if (scheme !== "basic") return [];
  const decoded = decodeBase64(credentials);
  if (decoded === undefined) return [];
  const colon = decoded.indexOf(":");
  if (colon < 0) return [];
  const password = decoded.slice(colon + 1);
  const unescaped = percentDecode(password);
  return unescaped === undefined || unescaped === password ? [password] : [password, unescaped];
}

/** A tenant a token selects. */
export interface TokenHolder {
  readonly token: string | undefined;
}

/**
 * The holder whose token the header presents, or undefined. Compares SHA-256 digests (equal
 * lengths, so timingSafeEqual applies) against every holder, without stopping at a match.
 */
export function selectByToken<T extends TokenHolder>(holders: readonly T[], header: string | undefined): T | undefined {
  return selectByCandidates(holders, presentedTokens(header));
}

/**
 * The holder whose token is exactly `value` (or `Bearer value`): the container endpoint's
 * Authorization, which SDKs send as AWS_CONTAINER_AUTHORIZATION_TOKEN holds it, with no scheme.
 */
export function selectByExactToken<T extends TokenHolder>(holders: readonly T[], value: string | undefined): T | undefined {
  if (value === undefined || value === "") return undefined;
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value)?.[1];
  return selectByCandidates(holders, bearer === undefined ? [value] : [value, bearer]);
}

function selectByCandidates<T extends TokenHolder>(holders: readonly T[], tokens: readonly string[]): T | undefined {
  const candidates = tokens.map(digest);
  let found: T | undefined;
  for (const holder of holders) {
    if (holder.token === undefined) continue;
    const expected = digest(holder.token);
    for (const candidate of candidates) {
      if (timingSafeEqual(candidate, expected) && found === undefined) found = holder;
    }
  }
  return found;
}

/** The challenge that makes curl, git and browsers retry with the proxy URL's userinfo. */
export const PROXY_AUTH_CHALLENGE = 'Basic realm="credproxy"';

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

function decodeBase64(text: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, "base64").toString("utf8");
}

function percentDecode(text: string): string | undefined {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
