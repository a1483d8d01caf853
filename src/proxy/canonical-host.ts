/**
 * The ONE canonical spelling of a proxy target. The CONNECT authority, the Host header, an
 * absolute-URI authority and the TLS SNI are all reduced to it before any allow-list check,
 * MITM decision, credential binding or dial, so `Api.Example.COM.:443`, `127.1:443` and
 * `[0:0:0:0:0:0:0:1]:443` cannot mean one thing to the filter and another to the dialer
 * (sandbox-runtime had exactly that bug with a trailing dot).
 *
 * Rules: lower case; one trailing dot dropped; IDN to punycode; every WHATWG IPv4 spelling to
 * a dotted quad; IPv6 only inside brackets, RFC 5952 text; a port of 1–65535 in plain decimal.
 * Anything odd (userinfo, `%`, slashes, whitespace, empty or long labels, a numeric-looking
 * name that is not an IPv4 address) is a problem, never a guess.
 */
import { domainToASCII } from "node:url";
import { endsInNumber, parseIpv4Legacy, parseIpv6 } from "../net/ip-address.ts";

export interface CanonicalTarget {
  readonly host: string;
  readonly port: number;
  readonly kind: "name" | "ipv4" | "ipv6";
  /** `host:port`, IPv6 in brackets. */
  readonly authority: string;
}

type Problem = { problem: string };
type CanonicalHost = { host: string; kind: CanonicalTarget["kind"] };

const MAX_NAME = 253;
const MAX_LABEL = 63;

/** A CONNECT authority (port required unless `defaultPort`), a Host header or URI authority. */
export function parseAuthority(raw: string, options: { defaultPort?: number } = {}): CanonicalTarget | Problem {
  const refused = refusedCharacter(raw);
  if (refused) return { problem: refused };
  const split = splitHostPort(raw);
  if ("problem" in split) return split;
  let port: number;
  if (split.portText === undefined) {
    if (options.defaultPort === undefined) return { problem: `authority "${raw}" has no port; write host:port` };
    port = options.defaultPort;
  } else {
    const parsed = parsePort(split.portText);
    if (typeof parsed !== "number") return parsed;
    port = parsed;
  }
  const host = split.bracketed ? bracketedHost(split.host) : canonicalName(split.host);
  if ("problem" in host) return host;
  const authority = host.kind === "ipv6" ? `[${host.host}]:${port}` : `${host.host}:${port}`;
  return { host: host.host, port, kind: host.kind, authority };
}

/** Same canonical host and port. */
export function sameTarget(a: CanonicalTarget, b: CanonicalTarget): boolean {
  return a.host === b.host && a.port === b.port;
}

/**
 * The canonical host of a TLS SNI value, or undefined when it is malformed. RFC 6066 allows
 * only DNS names in SNI, so an IP literal (in any spelling) is malformed too.
 */
export function parseSni(servername: string): string | undefined {
  if (refusedCharacter(servername) || servername.includes(":") || /[[\]]/.test(servername)) return undefined;
  const host = canonicalName(servername);
  if ("problem" in host || host.kind !== "name") return undefined;
  return host.host;
}

/** Characters no authority of ours may hold, named in a sentence. */
function refusedCharacter(raw: string): string | undefined {
  if (raw === "") return "authority is empty";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff]/.test(raw)) {
    return `authority ${JSON.stringify(raw)} contains whitespace or a control character`;
  }
  if (raw.includes("@")) return `authority "${raw}" contains userinfo ("@"); credentials do not belong in a host`;
  if (raw.includes("%")) return `authority "${raw}" contains "%"; percent-escapes and zone ids are not allowed`;
  if (/[/\\]/.test(raw)) return `authority "${raw}" contains a slash; give only host:port`;
  return undefined;
}

/** Splits `host:port`, `[v6]:port`, `host` or `[v6]`. */
function splitHostPort(raw: string): { host: string; portText: string | undefined; bracketed: boolean } | Problem {
  if (raw.startsWith("[")) {
    const close = raw.indexOf("]");
    if (close < 0) return { problem: `authority "${raw}" opens "[" without closing it` };
    const host = raw.slice(1, close);
    const rest = raw.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return { problem: `authority "${raw}" has text after "]" that is not ":port"` };
    return { host, portText: rest === "" ? undefined : rest.slice(1), bracketed: true };
  }
  if (/[[\]]/.test(raw)) return { problem: `authority "${raw}" has a bracket outside an [IPv6] host` };
  const colons = raw.split(":").length - 1;
  if (colons > 1) return { problem: `authority "${raw}" has more than one ":"; an IPv6 address must be in brackets, as [::1]:443` };
  if (colons === 0) return { host: raw, portText: undefined, bracketed: false };
  const colon = raw.indexOf(":");
  return { host: raw.slice(0, colon), portText: raw.slice(colon + 1), bracketed: false };
}

/** A port: decimal digits, 1–65535, no leading zeros or signs. */
function parsePort(text: string): number | Problem {
  if (text === "") return { problem: "port is empty; write host:port with a port from 1 to 65535" };
  if (!/^[1-9][0-9]{0,4}$/.test(text) || Number(text) > 65535) {
    return { problem: `port "${text}" must be a decimal number from 1 to 65535 without leading zeros` };
  }
  return Number(text);
}

/** The inside of `[...]`: an IPv6 address and nothing else. */
function bracketedHost(inner: string): CanonicalHost | Problem {
  const address = inner.includes("[") ? undefined : parseIpv6(inner);
  if (!address) return { problem: `"[${inner}]" is not an IPv6 address; brackets hold only IPv6 addresses` };
  return { host: address.text, kind: "ipv6" };
}

/** A DNS name or legacy IPv4 spelling, to punycode or dotted quad. */
function canonicalName(host: string): CanonicalHost | Problem {
  if (host === "") return { problem: "host is empty" };
  if (/^\.+$/.test(host)) return { problem: `host "${host}" is only dots` };
  const lowered = host.toLowerCase();
  if (/^[\x21-\x7e]*$/.test(lowered) && endsInNumber(lowered)) return ipv4Host(lowered, host);
  const ascii = domainToASCII(host);
  if (ascii === "") return { problem: `host "${host}" is not a valid host name` };
  if (endsInNumber(ascii)) return ipv4Host(ascii, host);
  const name = ascii.endsWith(".") ? ascii.slice(0, -1) : ascii;
  const labelProblem = checkLabels(name, host);
  if (labelProblem) return { problem: labelProblem };
  return { host: name, kind: "name" };
}

function ipv4Host(text: string, original: string): CanonicalHost | Problem {
  const address = parseIpv4Legacy(text);
  if (!address) return { problem: `host "${original}" ends in a number but is not a valid IPv4 address` };
  return { host: address.text, kind: "ipv4" };
}

/** Label rules: non-empty, at most 63 octets, letters/digits/`-`/`_`; the name at most 253. */
function checkLabels(name: string, original: string): string | undefined {
  if (name.length > MAX_NAME) return `host "${original}" is longer than ${MAX_NAME} characters`;
  for (const label of name.split(".")) {
    if (label === "") return `host "${original}" has an empty label`;
    if (label.length > MAX_LABEL) return `host "${original}" has a label longer than ${MAX_LABEL} characters`;
    if (!/^[a-z0-9_-]+$/.test(label)) {
      return `host "${original}" has a label with a character other than letters, digits, "-" and "_"`;
    }
  }
  return undefined;
}
