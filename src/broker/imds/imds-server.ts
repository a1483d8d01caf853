/**
 * An EC2 instance metadata service (IMDS) for one role, so that SDKs with no configuration at
 * all (boto3, the AWS CLI, the JS, Go and Java SDKs) pick up short-lived role credentials
 * through their default chain: `credproxy broker imds`, and later `broker exec --imds`.
 *
 * IMDSv2 is implemented fully and required unless v1 is switched on explicitly; the routes
 * behind the guards are in imds-routes.ts. Every request passes two named guards first
 * (STYLE.md §10): the peer must be this host (`withLocalPeer`) and the Host header an IMDS or
 * listen address (`withHostCheck`, against DNS rebinding). Tokens and secrets are never logged.
 */
import { listen, type Handler } from "../../http/listen.ts";
import { canonicalAddress, fixedLocalPeers, isLocalPeer, withLocalPeer as localPeerGuard } from "../../http/local-peer.ts";
import type { Logger } from "../../log.ts";
import { forbidden, imdsRoutes, TEXT_HEADERS, type ImdsRoutesOptions } from "./imds-routes.ts";
import { createImdsTokenStore, type ImdsTokenStore } from "./imds-tokens.ts";

export type { ImdsCredentialSource } from "./imds-routes.ts";
export { isLocalPeer };

/** Where every SDK looks for IMDS by default (IPv4 endpoint mode). */
export const IMDS_ADDRESS = "169.254.169.254";
/** The IPv6 endpoint-mode address; accepted in Host headers. */
export const IMDS_ADDRESS_V6 = "fd00:ec2::254";

export interface ImdsServerOptions extends ImdsRoutesOptions {
  readonly listen: { readonly hostname: string; readonly port: number };
  /**
   * Addresses of this host that local clients may arrive FROM besides loopback: on Linux a
   * client connecting to an address on lo gets that address as its source (§8.4). Default: the
   * listen address when it is a specific, non-loopback one. Linux drops packets from outside
   * that claim a local source address (martian), so accepting it admits local clients only.
   */
  readonly localAddresses?: readonly string[] | undefined;
  /** Further Host header values to accept, e.g. "imds.internal:8080". */
  readonly extraHosts?: readonly string[] | undefined;
  /** Flag or config key named in listen errors. Default "--port". */
  readonly configKey?: string | undefined;
  /** Milliseconds since the epoch (token expiry, LastUpdated); tests pass a fake clock. */
  readonly now?: (() => number) | undefined;
  readonly maxTokens?: number | undefined;
}

export interface ImdsServer {
  /** The base URL, as AWS_EC2_METADATA_SERVICE_ENDPOINT wants it: `http://127.0.0.1:41234/`. */
  readonly endpoint: string;
  readonly hostname: string;
  readonly port: number;
  /** Live IMDSv2 tokens (for tests and metrics). */
  readonly tokens: Pick<ImdsTokenStore, "size">;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Listens on `listen` and serves IMDS for one role. Throws CredproxyError E_LISTEN when the
 * address cannot be bound.
 *
 * @example
 * const imds = startImdsServer({ credentials: broker.base, roleName: "dev", accountId: "123456789012",
 *   region: "eu-west-1", listen: { hostname: "127.0.0.1", port: 0 }, logger });
 * // AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.endpoint
 */
export function startImdsServer(options: ImdsServerOptions): ImdsServer {
  const log = options.logger;
  const tokens = createImdsTokenStore({ now: options.now, maxTokens: options.maxTokens });
  const routes = imdsRoutes(options, tokens, options.now ?? Date.now);
  // The Host allow-list needs the bound port (port 0 picks one), so the guards are put in place
  // right after Bun.serve returns, before the event loop can deliver a request.
  let guarded: Handler | undefined;
  const listener = listen({
    name: "IMDS server",
    hostname: options.listen.hostname,
    port: options.listen.port,
    fetch: (req, server) => (guarded ? guarded(req, server) : new Response("starting\n", { status: 503, headers: TEXT_HEADERS })),
    configKey: options.configKey ?? "--port",
  });
  const hosts = allowedHosts(options.listen.hostname, listener.port, options.extraHosts ?? []);
  const peers = localPeers(options.listen.hostname, options.localAddresses);
  guarded = withLocalPeer(withHostCheck(routes, hosts, log), peers, log);

  return {
    endpoint: `http://${bracket(options.listen.hostname)}${listener.port === 80 ? "" : `:${listener.port}`}/`,
    hostname: options.listen.hostname,
    port: listener.port,
    tokens,
    stop: (graceMs) => listener.stop(graceMs),
  };
}

/**
 * Admits only requests from this host: loopback, or one of `accepted` (the alias address, which
 * local clients of an address on lo arrive from). Everything else gets a 403.
 */
export function withLocalPeer(next: Handler, accepted: ReadonlySet<string>, log: Logger): Handler {
  return localPeerGuard(next, fixedLocalPeers(accepted), (peer) => {
    log.warn("IMDS request refused: the peer is not on this host", { peer });
    return forbidden();
  });
}

/**
 * Admits only Host headers naming IMDS or this listener, so that a web page whose DNS name was
 * rebound to 127.0.0.1 or 169.254.169.254 cannot read credentials through a browser.
 */
export function withHostCheck(next: Handler, hosts: ReadonlySet<string>, log: Logger): Handler {
  return (req, server) => {
    const host = req.headers.get("host")?.toLowerCase();
    if (host !== undefined && hosts.has(host)) return next(req, server);
    log.warn("IMDS request refused: unexpected Host header", { host: host ?? "(none)", peer: server.requestIP(req)?.address });
    return forbidden();
  };
}

/** The Host header values a legitimate client sends, lower case. */
export function allowedHosts(listenHost: string, port: number, extra: readonly string[]): Set<string> {
  const hosts = new Set<string>();
  const add = (host: string, ports: readonly number[]): void => {
    for (const p of ports) hosts.add(`${host}:${p}`.toLowerCase());
    if (ports.includes(80)) hosts.add(host.toLowerCase());
  };
  // An SDK pointed at the default endpoint sends the bare address; a DNAT'd port keeps it.
  add(IMDS_ADDRESS, [80, port]);
  add(`[${IMDS_ADDRESS_V6}]`, [80, port]);
  const listenAddress = canonicalAddress(listenHost);
  if (listenAddress !== undefined && listenAddress !== "0.0.0.0" && listenAddress !== "::") {
    add(bracket(listenAddress), [port]);
    if (isLocalPeer(listenAddress, new Set())) add("localhost", [port]);
  }
  for (const h of extra) hosts.add(h.toLowerCase());
  return hosts;
}

function localPeers(listenHost: string, given: readonly string[] | undefined): Set<string> {
  const out = new Set<string>();
  const candidates = given ?? [listenHost];
  for (const text of candidates) {
    const address = canonicalAddress(text);
    if (address !== undefined && address !== "0.0.0.0" && address !== "::") out.add(address);
  }
  return out;
}

function bracket(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
