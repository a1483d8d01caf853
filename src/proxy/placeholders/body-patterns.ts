/**
 * What to look for in a body or header, by the body's type: the patterns a WindowMatcher
 * runs. Only text bodies are rewritten, each in its own encoding so the result still parses:
 *
 * - JSON (application/json, any +json): the placeholder becomes the real value escaped as
 *   inside a JSON string (a `"` or `\` in a secret cannot end the string early);
 * - form (application/x-www-form-urlencoded): the placeholder, raw or percent-encoded (either
 *   hex case), becomes the real value form-encoded;
 * - text/*: the placeholder becomes the real value as it is.
 *
 * Any other type (binary, multipart) is never rewritten, and a body with a Content-Encoding
 * other than identity (gzip, br…) is not looked into at all: compressed bytes pass unchanged,
 * so a placeholder in them reaches the upstream as the placeholder (fails safe).
 */
import type { Pattern } from "./window-matcher.ts";

export type BodyKind = "json" | "form" | "text" | "binary" | "encoded";

/** A placeholder and the real value it stands for at its credential's hosts. */
export interface PlaceholderSwap {
  readonly placeholder: string;
  readonly real: string;
}

/** A placeholder that must not be in a body to this host, and why (the refusal's code). */
export interface ForbiddenPlaceholder {
  readonly placeholder: string;
  readonly reason: string;
}

/** Real values shorter than this are not scrubbed from responses: a short string would match ordinary text. */
export const MIN_SCRUBBED_LENGTH = 8;

export function bodyKind(contentType: string | undefined, contentEncoding: string | undefined): BodyKind {
  const coding = contentEncoding?.trim().toLowerCase();
  if (coding !== undefined && coding !== "" && coding !== "identity") return "encoded";
  const type = (contentType ?? "").split(";", 1)[0]!.trim().toLowerCase();
  if (type === "application/json" || type.endsWith("+json")) return "json";
  if (type === "application/x-www-form-urlencoded") return "form";
  if (type.startsWith("text/")) return "text";
  return "binary";
}

/**
 * A request body's patterns: the credential's own placeholders (`own`, bound to this host)
 * become their real values in text bodies; the `forbidden` ones (another host's) stop the
 * body, whatever its type, as long as it can be read (raw or percent-encoded).
 */
export function requestPatterns(kind: BodyKind, own: readonly PlaceholderSwap[], forbidden: readonly ForbiddenPlaceholder[]): Pattern[] {
  if (kind === "encoded") return [];
  const patterns: Pattern[] = [];
  for (const swap of kind === "binary" ? [] : own) {
    const to = Buffer.from(kind === "json" ? jsonEscaped(swap.real) : kind === "form" ? formEncoded(swap.real) : swap.real);
    const spellings = kind === "form" ? percentSpellings(swap.placeholder) : [swap.placeholder];
    for (const from of spellings) patterns.push({ from: Buffer.from(from), to });
  }
  for (const { placeholder, reason } of forbidden) for (const from of percentSpellings(placeholder)) patterns.push({ from: Buffer.from(from), to: undefined, reason });
  return dedupe(patterns);
}

/** A response body's patterns: each real value, in the spellings a text body could echo it in, becomes its placeholder. */
export function responsePatterns(kind: BodyKind, own: readonly PlaceholderSwap[]): Pattern[] {
  if (kind === "encoded" || kind === "binary") return [];
  return scrubPatterns(own, kind === "json");
}

/** Patterns for response header values (a Location or a cookie can echo a token, percent-encoded or not). */
export function headerScrubPatterns(own: readonly PlaceholderSwap[]): Pattern[] {
  return scrubPatterns(own, false);
}

function scrubPatterns(own: readonly PlaceholderSwap[], json: boolean): Pattern[] {
  const patterns: Pattern[] = [];
  for (const { real, placeholder } of own) {
    if (Buffer.byteLength(real) < MIN_SCRUBBED_LENGTH) continue;
    const encoders = [(s: string) => s, encodeURIComponent, formEncoded, ...(json ? [jsonEscaped] : [])];
    for (const encode of encoders) patterns.push({ from: Buffer.from(encode(real)), to: Buffer.from(encode(placeholder)) });
  }
  return dedupe(patterns);
}

/** Inside a JSON string, without the quotes. */
function jsonEscaped(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

/** application/x-www-form-urlencoded as the URL standard writes it: space as +, all but *-._ and alphanumerics percent-encoded. */
export function formEncoded(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replaceAll("%20", "+");
}

/** The ways a form or URL can spell a value: raw, and percent-encoded with upper- or lower-case hex. */
function percentSpellings(value: string): string[] {
  const upper = formEncoded(value);
  return [value, upper, encodeURIComponent(value), upper.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())];
}

function dedupe(patterns: Pattern[]): Pattern[] {
  const seen = new Set<string>();
  return patterns.filter((p) => {
    const key = p.from.toString("latin1");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
