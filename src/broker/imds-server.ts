/**
 * An EC2 instance metadata service (IMDS) for one role, so that SDKs with no configuration at
 * all (boto3, the AWS CLI, the JS, Go and Java SDKs) pick up short-lived role credentials
 * through their default chain: `credproxy broker imds`, and later `broker exec --imds`.
 *
 * IMDSv2 is implemented fully and required unless v1 is switched on explicitly; the surface is
 * the minimum in reference/aws-credential-protocols.md §7, everything else is a 404. Every
 * request passes two named guards first (STYLE.md §10): the peer must be this host
 * (`withLocalPeer`) and the Host header an IMDS or listen address (`withHostCheck`, against
 * DNS rebinding). Tokens and secrets are never logged.
 */
import { createHash } from "node:crypto";
import { formatExpiration } from "../credentials/ecs-response.ts";
import type { RoleCredentials } from "../credentials/types.ts";
import { CredproxyError } from "../errors.ts";
import { listen, type Handler } from "../http/listen.ts";
import type { Logger } from "../log.ts";
import { formatAddress, parseAddress } from "../net/loopback-address.ts";
import { createImdsTokenStore, parseTokenTtl, type ImdsTokenStore } from "./imds-tokens.ts";

/** Where every SDK looks for IMDS by default (IPv4 endpoint mode). */
export const IMDS_ADDRESS = "169.254.169.254";
/** The IPv6 endpoint-mode address; accepted in Host headers. */
export const IMDS_ADDRESS_V6 = "fd00:ec2::254";

const TOKEN_PATH = "/latest/api/token";
const TOKEN_HEADER = "x-aws-ec2-metadata-token";
const TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";
const CREDENTIALS_DIR = "/latest/meta-data/iam/security-credentials";
const TEXT = { "content-type": "text/plain" } as const;

/** A RefreshingCredentials fits; so does a plain async function. */
export type ImdsCredentialSource =
  | (() => Promise<RoleCredentials>)
  | { get(): Promise<RoleCredentials>; peek?(): RoleCredentials | undefined };

export interface ImdsServerOptions {
  readonly credentials: ImdsCredentialSource;
  /** The one name `iam/security-credentials/` lists. */
  readonly roleName: string;
  readonly accountId: string;
  readonly region: string;
  /** Default: the region + "a". */
  readonly availabilityZone?: string | undefined;
  /** Default: derived from the role name, stable across restarts. */
  readonly instanceId?: string | undefined;
  /** For the instance profile ARN in `iam/info`. Default "aws". */
  readonly partition?: string | undefined;
  /** Serve GETs without a token (IMDSv1). Off unless asked for. */
  readonly imdsV1?: boolean | undefined;
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
  readonly logger: Logger;
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
    fetch: (req, server) => (guarded ? guarded(req, server) : new Response("starting\n", { status: 503, headers: TEXT })),
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

/** The metadata routes behind the guards: the token endpoint, then token-checked GETs. */
function imdsRoutes(options: ImdsServerOptions, tokens: ImdsTokenStore, now: () => number): Handler {
  const log = options.logger;
  const region = options.region;
  const az = options.availabilityZone ?? `${region}a`;
  const instanceId = options.instanceId ?? defaultInstanceId(options.roleName, options.accountId);
  const partition = options.partition ?? "aws";
  const startedAt = formatExpiration(new Date(now()));
  const getCredentials = credentialGetter(options.credentials);
  // LastUpdated is when these credentials were first served, as on EC2 where it changes on refresh.
  let lastSeen: RoleCredentials | undefined;
  let lastUpdated = startedAt;

  const document = {
    accountId: options.accountId,
    architecture: process.arch === "arm64" ? "arm64" : "x86_64",
    availabilityZone: az,
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: "ami-0c0ffee0c0ffee000",
    instanceId,
    instanceType: "t3.micro",
    kernelId: null,
    pendingTime: startedAt,
    privateIp: "127.0.0.1",
    ramdiskId: null,
    region,
    version: "2017-09-30",
  };
  // Trailing slashes are stripped before lookup: SDKs ask for both `/x` and `/x/`.
  const text = new Map<string, string>([
    ["/", "latest"],
    ["/latest", "dynamic\nmeta-data"],
    ["/latest/meta-data", "iam/\ninstance-id\nplacement/"],
    ["/latest/meta-data/iam", "info\nsecurity-credentials/"],
    // Exactly one name, no trailing newline: botocore takes the whole body as the name (§4).
    [CREDENTIALS_DIR, options.roleName],
    ["/latest/meta-data/instance-id", instanceId],
    ["/latest/meta-data/placement", "availability-zone\nregion"],
    ["/latest/meta-data/placement/region", region],
    ["/latest/meta-data/placement/availability-zone", az],
    ["/latest/dynamic", "instance-identity/"],
    ["/latest/dynamic/instance-identity", "document"],
    ["/latest/dynamic/instance-identity/document", JSON.stringify(document, null, 2)],
  ]);
  const credentialsPath = `${CREDENTIALS_DIR}/${options.roleName}`;

  const serveCredentials = (creds: RoleCredentials): Response => {
    if (creds !== lastSeen) {
      lastSeen = creds;
      lastUpdated = formatExpiration(new Date(now()));
    }
    const body = {
      Code: "Success",
      LastUpdated: lastUpdated,
      Type: "AWS-HMAC",
      AccessKeyId: creds.accessKeyId,
      SecretAccessKey: creds.secretAccessKey,
      Token: creds.sessionToken,
      // Whole seconds and Z: botocore's expiry handling parses exactly %Y-%m-%dT%H:%M:%SZ (§4).
      Expiration: formatExpiration(creds.expiration),
    };
    return new Response(JSON.stringify(body, null, 2), { headers: TEXT });
  };
  const credentialsUnavailable = (error: unknown): Response => {
    const message = error instanceof CredproxyError ? error.message : "internal error";
    log.warn("IMDS has no valid credentials to serve", { error: message });
    const body = { Code: "CredentialsUnavailable", Message: message, LastUpdated: formatExpiration(new Date(now())) };
    return new Response(JSON.stringify(body, null, 2), { status: 503, headers: TEXT });
  };

  const metadata: Handler = (req) => {
    const path = normalizePath(req.url);
    const body = text.get(path);
    if (body !== undefined) return new Response(body, { headers: TEXT });
    if (path === credentialsPath) {
      const cached = getCredentials.peek();
      if (cached) return serveCredentials(cached);
      return getCredentials.get().then(serveCredentials, credentialsUnavailable);
    }
    if (path === "/latest/meta-data/iam/info") {
      const info = {
        Code: "Success",
        LastUpdated: lastUpdated,
        InstanceProfileArn: `arn:${partition}:iam::${options.accountId}:instance-profile/${options.roleName}`,
        InstanceProfileId: `AIPA${instanceId.slice(2, 19).toUpperCase()}`,
      };
      return new Response(JSON.stringify(info, null, 2), { headers: TEXT });
    }
    return notFound();
  };
  const authorized = withImdsToken(metadata, tokens, options.imdsV1 === true, log);

  const issueToken: Handler = (req, server) => {
    // Real IMDSv2 issues no token to a request that went through a proxy (AWS security blog,
    // 2019-11-19): an SSRF or open reverse proxy then cannot get one.
    if (req.headers.has("x-forwarded-for")) {
      log.warn("IMDS token request refused: it carries X-Forwarded-For", { peer: server.requestIP(req)?.address });
      return forbidden();
    }
    const ttl = parseTokenTtl(req.headers.get(TTL_HEADER));
    if (ttl === undefined) {
      return new Response("Missing or invalid X-aws-ec2-metadata-token-ttl-seconds: a whole number of seconds, 1 to 21600\n", {
        status: 400,
        headers: TEXT,
      });
    }
    const token = tokens.issue(ttl);
    if (log.enabled("debug")) log.debug("IMDS token issued", { ttl_seconds: ttl, peer: server.requestIP(req)?.address });
    // The Go SDK fails with "unable to parse API token" unless the TTL is echoed (§4).
    return new Response(token, { headers: { ...TEXT, [TTL_HEADER]: String(ttl) } });
  };

  return (req, server) => {
    const path = normalizePath(req.url);
    if (path === TOKEN_PATH) {
      return req.method === "PUT" ? issueToken(req, server) : methodNotAllowed("PUT");
    }
    if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed("GET");
    const res = authorized(req, server);
    if (log.enabled("debug")) {
      void Promise.resolve(res).then((r) => log.debug("IMDS request", { method: req.method, path, status: r.status }));
    }
    return res;
  };
}

/**
 * Admits only requests from this host: loopback, or one of `accepted` (the alias address, which
 * local clients of an address on lo arrive from). Everything else gets a 403.
 */
export function withLocalPeer(next: Handler, accepted: ReadonlySet<string>, log: Logger): Handler {
  return (req, server) => {
    const peer = server.requestIP(req)?.address;
    if (peer !== undefined && isLocalPeer(peer, accepted)) return next(req, server);
    log.warn("IMDS request refused: the peer is not on this host", { peer: peer ?? "unknown" });
    return forbidden();
  };
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

/**
 * IMDSv2: a GET must carry a valid, unexpired session token (401 otherwise). With v1 on, a GET
 * without one is served too, but a wrong or expired token is still a 401, as on EC2.
 */
function withImdsToken(next: Handler, tokens: ImdsTokenStore, imdsV1: boolean, log: Logger): Handler {
  return (req, server) => {
    const token = req.headers.get(TOKEN_HEADER);
    if (token === null ? imdsV1 : tokens.valid(token)) return next(req, server);
    if (log.enabled("debug")) log.debug("IMDS request refused: token missing, unknown or expired", { present: token !== null });
    return new Response("Unauthorized\n", { status: 401, headers: TEXT });
  };
}

/** Whether `peer` (as Bun reports it) is loopback or one of `accepted` (canonical text). */
export function isLocalPeer(peer: string, accepted: ReadonlySet<string>): boolean {
  const address = canonicalAddress(peer);
  if (address === undefined) return false;
  return address === "::1" || /^127\.\d+\.\d+\.\d+$/.test(address) || accepted.has(address);
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

/** Canonical text of an address, with IPv4-mapped IPv6 (`::ffff:127.0.0.1`) unwrapped; undefined if unparseable. */
function canonicalAddress(text: string): string | undefined {
  try {
    const { family, bytes } = parseAddress(text.replace(/%.*$/, ""));
    const mapped = family === 6 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    return mapped ? formatAddress(4, bytes.subarray(12)) : formatAddress(family, bytes);
  } catch {
    return undefined;
  }
}

function credentialGetter(source: ImdsCredentialSource): { get(): Promise<RoleCredentials>; peek(): RoleCredentials | undefined } {
  if (typeof source === "function") return { get: source, peek: () => undefined };
  return { get: () => source.get(), peek: () => source.peek?.() };
}

/** The URL's path without one trailing slash ("/" stays "/"); percent-escapes decoded when valid. */
function normalizePath(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  let path = start === -1 ? "/" : url.slice(start);
  const query = path.search(/[?#]/);
  if (query !== -1) path = path.slice(0, query);
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  if (path.includes("%")) {
    try {
      path = decodeURIComponent(path);
    } catch {
      // Left as sent: it then matches nothing and is a 404.
    }
  }
  return path;
}

function defaultInstanceId(roleName: string, accountId: string): string {
  return `i-${createHash("sha256").update(`${accountId}/${roleName}`).digest("hex").slice(0, 17)}`;
}

function bracket(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function forbidden(): Response {
  return new Response("Forbidden\n", { status: 403, headers: TEXT });
}

function notFound(): Response {
  return new Response("Not Found\n", { status: 404, headers: TEXT });
}

function methodNotAllowed(allow: string): Response {
  return new Response("Method Not Allowed\n", { status: 405, headers: { ...TEXT, allow } });
}
