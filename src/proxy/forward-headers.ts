/**
 * The headers an upstream receives: the client's, minus everything that only concerns the hop
 * to the proxy, minus every client-sent value of a header the proxy injects, plus the injected
 * values. The sandbox never chooses a credential's value: a client's `authorization` (in any
 * case, repeated or not) is gone before the real one is set.
 */

export type HeaderList = readonly (readonly [string, string])[];

/** Meaningful only between the client and the proxy (RFC 9110 §7.6.1), plus the proxy's own. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

export interface Injection {
  /** Header name, any case. */
  readonly header: string;
  readonly value: string;
}

export interface ForwardOptions {
  /** Keep `Connection: upgrade` and `Upgrade` (a WebSocket handshake the proxy relays). */
  readonly upgrade?: boolean | undefined;
}

/** `headers` as they go upstream, with `injections` applied; names lower-cased. */
export function forwardHeaders(headers: HeaderList, injections: readonly Injection[], options: ForwardOptions = {}): [string, string][] {
  const named = connectionTokens(headers);
  const injected = new Set(injections.map((i) => i.header.toLowerCase()));
  const out: [string, string][] = [];
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    if (injected.has(name)) continue;
    if (options.upgrade && (name === "upgrade" || name === "connection")) continue;
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    out.push([name, value]);
  }
  if (options.upgrade) {
    const upgrade = headers.find(([n]) => n.toLowerCase() === "upgrade");
    if (upgrade) out.push(["connection", "upgrade"], ["upgrade", upgrade[1]]);
  }
  for (const { header, value } of injections) out.push([header.toLowerCase(), value]);
  return out;
}

/**
 * The headers a client receives from an upstream's response: its hop-by-hop headers (and the
 * ones its Connection names) are the upstream connection's business, not the client's.
 * A relayed 101 Switching Protocols keeps Connection and Upgrade.
 */
export function responseHeaders(headers: HeaderList, options: ForwardOptions = {}): [string, string][] {
  return forwardHeaders(headers, [], options);
}

/** Header names the client listed in Connection: they are hop-by-hop too. */
function connectionTokens(headers: HeaderList): Set<string> {
  const tokens = new Set<string>();
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== "connection") continue;
    for (const token of value.split(",")) if (token.trim()) tokens.add(token.trim().toLowerCase());
  }
  tokens.delete("upgrade");
  return tokens;
}
