/**
 * Host patterns for the proxy's allow and deny lists, and for grant host sets.
 *
 * Forms: `host`, `host:port`, `*.suffix`, `*.suffix:port`, an IPv4 literal, `[ipv6]` and
 * `[ipv6]:port`. Patterns are stored canonical (lower-case, no trailing dot, punycode,
 * compressed IPv6 without brackets) so matching is plain string comparison against targets
 * that are canonical too. Only a leading `*.` is a wildcard; it matches subdomains at any
 * depth but never the apex. A pattern without a port matches ports 80 and 443 only, so
 * allowing a name does not open every service that name runs.
 */
import { domainToASCII } from "node:url";

export interface HostPattern {
  /** The pattern as written in the config. */
  readonly text: string;
  /** Canonical host, without the leading "*.". */
  readonly host: string;
  readonly wildcard: boolean;
  readonly port: number | undefined;
}

/** What a pattern is matched against: a canonical host and a port. */
export interface HostTarget {
  readonly host: string;
  readonly port: number;
}

type Parsed<T> = T | { problem: string };

const DEFAULT_PORTS: readonly number[] = [80, 443];
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

export function parseHostPattern(text: string): HostPattern | { problem: string } {
  if (text.trim() !== text || text === "") return { problem: `host pattern ${JSON.stringify(text)} is empty or has surrounding spaces` };
  if (text === "*" || text.startsWith("*:")) {
    return { problem: `host pattern "${text}" would match every host; to allow everything, use policy: permissive` };
  }
  const split = splitPort(text);
  if ("problem" in split) return split;
  const port = parsePort(text, split.port);
  if (typeof port === "object") return port;
  if (split.bracketed) {
    const host = canonicalIPv6(split.host);
    if (host === undefined) return { problem: `host pattern "${text}" has "${split.host}" in brackets, which is not an IPv6 address` };
    return { text, host, wildcard: false, port };
  }
  const wildcard = split.host.startsWith("*.");
  const name = wildcard ? split.host.slice(2) : split.host;
  if (name.includes("*")) {
    return { problem: `host pattern "${text}": only a leading *. is a wildcard; sts.*.amazonaws.com is not supported, write *.amazonaws.com` };
  }
  const host = canonicalName(text, name);
  if (typeof host === "object") return host;
  if (wildcard && IPV4.test(host)) return { problem: `host pattern "${text}" puts a wildcard in front of an IP address; write the address alone` };
  return { text, host, wildcard, port };
}

/** Splits "host", "host:port", "[v6]" and "[v6]:port"; a bare IPv6 address is refused. */
function splitPort(text: string): Parsed<{ host: string; port: string | undefined; bracketed: boolean }> {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    const rest = close < 0 ? "" : text.slice(close + 1);
    if (close < 0 || (rest !== "" && !rest.startsWith(":"))) {
      return { problem: `host pattern "${text}" has an unbalanced "[": write an IPv6 address as [2001:db8::1] or [2001:db8::1]:443` };
    }
    return { host: text.slice(1, close), port: rest === "" ? undefined : rest.slice(1), bracketed: true };
  }
  const colons = text.split(":").length - 1;
  if (colons > 1) return { problem: `host pattern "${text}" looks like an IPv6 address; write it in brackets, as [${text}]` };
  if (colons === 0) return { host: text, port: undefined, bracketed: false };
  const at = text.lastIndexOf(":");
  return { host: text.slice(0, at), port: text.slice(at + 1), bracketed: false };
}

function parsePort(text: string, port: string | undefined): number | undefined | { problem: string } {
  if (port === undefined) return undefined;
  const value = /^[1-9]\d{0,4}$/.test(port) ? Number(port) : NaN;
  if (!(value <= 65535)) {
    return { problem: `host pattern "${text}" has port "${port}"; a port is a decimal number from 1 to 65535 without leading zeros` };
  }
  return value;
}

function canonicalIPv6(inner: string): string | undefined {
  if (!inner.includes(":")) return undefined;
  try {
    return new URL(`http://[${inner}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** Lower-cases, drops one trailing dot, converts IDN to punycode and checks every label. */
function canonicalName(text: string, name: string): string | { problem: string } {
  const lower = (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
  const bad = { problem: `host pattern "${text}" is not a valid host name or IPv4 address` };
  if (lower === "" || lower.length > 253) return bad;
  const ascii = domainToASCII(lower);
  if (ascii === "") return bad;
  if (IPV4.test(ascii) && ascii !== lower) {
    return { problem: `host pattern "${text}" is an unusual form of the IPv4 address ${ascii}; write ${ascii}` };
  }
  if (!IPV4.test(ascii) && /^\d+$/.test(ascii.slice(ascii.lastIndexOf(".") + 1))) return bad;
  if (!ascii.split(".").every((label) => LABEL.test(label))) return bad;
  return ascii;
}

/** Whether the pattern covers the target: exact host or any-depth subdomain, and the port rule. */
export function hostPatternMatches(p: HostPattern, target: HostTarget): boolean {
  return hostMatches(p, target.host) && portMatches(p, target.port);
}

/** The host half of the match alone; lets the policy tell "wrong port" from "wrong host". */
export function hostPatternMatchesHost(p: HostPattern, host: string): boolean {
  return hostMatches(p, host);
}

function hostMatches(p: HostPattern, host: string): boolean {
  return p.wildcard ? host.endsWith("." + p.host) : host === p.host;
}

function portMatches(p: HostPattern, port: number): boolean {
  return p.port === undefined ? DEFAULT_PORTS.includes(port) : p.port === port;
}

/** The first pattern that covers the target, if any. */
export function matchesAny(patterns: readonly HostPattern[], target: HostTarget): HostPattern | undefined {
  return patterns.find((p) => hostPatternMatches(p, target));
}
