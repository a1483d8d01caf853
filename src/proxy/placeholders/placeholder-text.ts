/**
 * Finding and replacing one placeholder in request text. A URL may spell any character as
 * %XX (`%63px_…` is `cpx_…`), so a placeholder is matched in every mix of raw and
 * percent-encoded characters, hex digits in either case. Placeholders hold only letters,
 * digits and - . _ ~ (resolve-placeholder.ts), so `+`, `%2B` and `/` never start or end one.
 *
 * What goes in its place is the value in the spelling its context needs: raw in a header,
 * percent-encoded in a path or query (a real key may hold / + = & that would change what the
 * URL means), and percent-encoded wherever the placeholder itself was.
 */

const patterns = new Map<string, RegExp>();

/** The matcher of a placeholder in raw and percent-encoded spellings (global; reset before use). */
export function encodedPattern(placeholder: string): RegExp {
  let pattern = patterns.get(placeholder);
  if (!pattern) {
    if (patterns.size > 4096) patterns.clear(); // placeholders change only with a reload
    pattern = new RegExp([...placeholder].map(characterPattern).join(""), "g");
    patterns.set(placeholder, pattern);
  }
  pattern.lastIndex = 0;
  return pattern;
}

function characterPattern(c: string): string {
  const hex = c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0");
  const spelled = [...hex].map((d) => (/[A-F]/.test(d) ? `[${d}${d.toLowerCase()}]` : d)).join("");
  return `(?:${c.replace(/[.\-]/g, "\\$&")}|%${spelled})`;
}

/** The placeholder appears in `text`, raw or percent-encoded. */
export function containsPlaceholder(text: string, placeholder: string): boolean {
  if (text.includes(placeholder)) return true;
  return text.includes("%") && encodedPattern(placeholder).test(text);
}

/**
 * `text` with every spelling of the placeholder replaced: a raw one by `raw`, a (partly)
 * percent-encoded one by `encoded`.
 */
export function replacePlaceholder(text: string, placeholder: string, raw: string, encoded: string): string {
  if (!text.includes("%")) return text.includes(placeholder) ? text.replaceAll(placeholder, raw) : text;
  return text.replace(encodedPattern(placeholder), (found) => (found === placeholder ? raw : encoded));
}

/** A value for a path segment: percent-encoded except what a segment may hold raw (: @). */
export function pathSpelling(value: string): string {
  return encodeURIComponent(value).replace(/%3A/g, ":").replace(/%40/g, "@");
}

/** A value for a query parameter: everything but unreserved characters encoded (& = + # would split or change it). */
export function querySpelling(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
