/**
 * A placeholder in one header value. Anywhere in the value (Bearer, a custom key header, a
 * cookie), raw or percent-encoded; and inside `Authorization: Basic`, whose user:password is
 * base64: decoded, the placeholder replaced in the user or the password, encoded again, so
 * `https://user:PLACEHOLDER@host` (curl, git) works like a bearer token.
 */
import { containsPlaceholder, querySpelling, replacePlaceholder } from "./placeholder-text.ts";

const BASIC = /^(basic)([ \t]+)([A-Za-z0-9+/]+={0,2})[ \t]*$/i;

/** The user:password of a Basic credential, or undefined when the value is not one. */
export function basicCredentials(value: string): { scheme: string; space: string; decoded: string } | undefined {
  const match = BASIC.exec(value);
  if (!match) return undefined;
  return { scheme: match[1]!, space: match[2]!, decoded: Buffer.from(match[3]!, "base64").toString("utf8") };
}

/** The value carries the placeholder, as text or inside Basic credentials. */
export function headerHasPlaceholder(value: string, placeholder: string): boolean {
  if (containsPlaceholder(value, placeholder)) return true;
  const basic = basicCredentials(value);
  return basic !== undefined && containsPlaceholder(basic.decoded, placeholder);
}

/** The value with the placeholder replaced by `real` (the same string when it has none). */
export function substituteHeader(value: string, placeholder: string, real: string): string {
  const basic = basicCredentials(value);
  if (basic && containsPlaceholder(basic.decoded, placeholder)) {
    // Inside user:password the value is raw text, but a client may have kept a URL's %XX.
    const decoded = replacePlaceholder(basic.decoded, placeholder, real, querySpelling(real));
    return `${basic.scheme}${basic.space}${Buffer.from(decoded, "utf8").toString("base64")}`;
  }
  return replacePlaceholder(value, placeholder, real, querySpelling(real));
}
