/**
 * The check that makes interception safe: a request inside a tunnel must name the host and
 * port the CONNECT named, in its Host header and (over TLS) its server name, else it is
 * answered 421 and gets no credential. The CONNECT target, already canonical and checked,
 * stays the one description of the destination; the Host header only has to agree with it.
 * TRACE and TRACK are refused here too: the listener checks only a connection's first head,
 * and an upstream echoing a later one would hand the injected credential to the client.
 */
import { parseAuthority, parseSni, sameTarget, type CanonicalTarget } from "../canonical-host.ts";
import { echoMethodRefusal } from "../proxy-request-head.ts";
import { misdirected, type Refusal } from "../refusal.ts";

/**
 * The Host and server name that last passed for a target (one object per admitted tunnel or
 * plain request): a keep-alive client repeats the same Host on every request, and parsing it
 * again each time was ~3% of the proxy's CPU under load. Only an exact repeat skips the parse.
 */
const passed = new WeakMap<CanonicalTarget, string>();

export function innerTargetRefusal(req: { readonly rawHeaders: readonly string[]; readonly method?: string | undefined }, target: CanonicalTarget, tunnel: { tls: boolean; servername: string | undefined }): Refusal | undefined {
  const echo = echoMethodRefusal(req.method ?? "GET");
  if (echo) return { status: echo.status, code: echo.code, message: `credproxy refused the request: ${echo.reason}.` };
  const hosts = hostValues(req.rawHeaders);
  if (hosts.length > 1) return { status: 400, code: "bad-host", message: "credproxy refused the request: it has more than one Host header." };
  const seen = `${tunnel.tls}\0${hosts[0] ?? "\0"}\0${tunnel.servername ?? "\0"}`;
  if (passed.get(target) === seen) return undefined;
  const refusal = hostRefusal(hosts[0], target, tunnel);
  if (!refusal) passed.set(target, seen);
  return refusal;
}

function hostRefusal(host: string | undefined, target: CanonicalTarget, tunnel: { tls: boolean; servername: string | undefined }): Refusal | undefined {
  if (host !== undefined) {
    const named = parseAuthority(host, { defaultPort: tunnel.tls ? 443 : 80 });
    if ("problem" in named) return misdirected("Host header", printable(host), target.authority);
    if (!sameTarget(named, target)) return misdirected("Host header", named.authority, target.authority);
  }
  if (tunnel.tls && tunnel.servername !== undefined) {
    const sni = parseSni(tunnel.servername);
    if (sni !== target.host) return misdirected("TLS server name", printable(tunnel.servername), target.authority);
  }
  return undefined;
}

/** The Host header the upstream gets: the canonical target, its port left out when it is the scheme's. */
export function canonicalHostHeader(target: CanonicalTarget, tls: boolean): string {
  const bare = target.kind === "ipv6" ? `[${target.host}]` : target.host;
  return target.port === (tls ? 443 : 80) ? bare : target.authority;
}

function hostValues(raw: readonly string[]): string[] {
  const values: string[] = [];
  let authority: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i] === ":authority") authority = raw[i + 1]!;
    else if (raw[i]!.toLowerCase() === "host") values.push(raw[i + 1]!);
  }
  // HTTP/2 names the host in :authority, and may repeat it in Host: the same value counts once.
  if (authority !== undefined && !(values.length === 1 && values[0] === authority)) values.unshift(authority);
  return values;
}

/** A client's text in a message: JSON-quoted, at most 100 characters. */
function printable(text: string): string {
  return JSON.stringify(text.length > 100 ? text.slice(0, 100) + "…" : text);
}
