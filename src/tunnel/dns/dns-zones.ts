/**
 * The zones of `tunnel up --dns ZONE`: names whose queries go through the tunnel. A zone is a
 * plain domain name (letters, digits, - and _ in labels of 1 to 63, at most 253 in all); the
 * root and a bare TLD of the public internet would take every name, so "." is refused, and a
 * trailing dot is dropped. Matching is by whole labels: internal.corp covers db.internal.corp
 * and internal.corp itself, never notinternal.corp.
 */

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

export type DnsZoneResult = { readonly zone: string } | { readonly problem: string };

/** A zone as the user wrote it, checked and lowered. */
export function parseDnsZone(text: string): DnsZoneResult {
  const zone = text.trim().toLowerCase().replace(/\.$/, "");
  if (zone === "") return { problem: "the root zone would send every name through the tunnel; name a zone such as internal.corp" };
  if (zone.length > 253) return { problem: "longer than 253 characters" };
  const bad = zone.split(".").find((label) => !LABEL.test(label));
  if (bad !== undefined) return { problem: bad === "" ? "an empty label (two dots in a row)" : `the label "${bad}" is not letters, digits, - and _ (1 to 63, no - at either end)` };
  return { zone };
}

/** A predicate over question names (lower case, as parseDnsQuestion gives them). */
export function zoneMatcher(zones: readonly string[]): (name: string) => boolean {
  return (name) => zones.some((zone) => name === zone || name.endsWith(`.${zone}`));
}
