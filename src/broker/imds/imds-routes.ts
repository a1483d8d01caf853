/**
 * What the IMDS emulation answers once a request has passed the edge guards (imds-server.ts):
 * the IMDSv2 token endpoint, the token check, and the metadata tree for one role, i.e. the
 * minimum surface in reference/aws-credential-protocols.md §7; everything else is a 404.
 * Tokens and secrets are never logged.
 */
import { createHash } from "node:crypto";
import { formatExpiration } from "../../credentials/ecs-response.ts";
import type { RoleCredentials } from "../../credentials/types.ts";
import { CredproxyError } from "../../errors.ts";
import type { Handler } from "../../http/listen.ts";
import type { Logger } from "../../log.ts";
import { parseTokenTtl, type ImdsTokenStore } from "./imds-tokens.ts";

const TOKEN_PATH = "/latest/api/token";
const TOKEN_HEADER = "x-aws-ec2-metadata-token";
const TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";
const CREDENTIALS_DIR = "/latest/meta-data/iam/security-credentials";
/** The content type of every IMDS answer, JSON documents included, as on EC2. */
export const TEXT_HEADERS = { "content-type": "text/plain" } as const;

/** A RefreshingCredentials fits; so does a plain async function. */
export type ImdsCredentialSource =
  | (() => Promise<RoleCredentials>)
  | { get(): Promise<RoleCredentials>; peek?(): RoleCredentials | undefined };

export interface ImdsRoutesOptions {
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
  readonly logger: Logger;
}

/** The metadata routes behind the guards: the token endpoint, then token-checked GETs. */
export function imdsRoutes(options: ImdsRoutesOptions, tokens: ImdsTokenStore, now: () => number): Handler {
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
    return new Response(JSON.stringify(body, null, 2), { headers: TEXT_HEADERS });
  };
  const credentialsUnavailable = (error: unknown): Response => {
    const message = error instanceof CredproxyError ? error.message : "internal error";
    log.warn("IMDS has no valid credentials to serve", { error: message });
    const body = { Code: "CredentialsUnavailable", Message: message, LastUpdated: formatExpiration(new Date(now())) };
    return new Response(JSON.stringify(body, null, 2), { status: 503, headers: TEXT_HEADERS });
  };

  const metadata: Handler = (req) => {
    const path = normalizePath(req.url);
    const body = text.get(path);
    if (body !== undefined) return new Response(body, { headers: TEXT_HEADERS });
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
      return new Response(JSON.stringify(info, null, 2), { headers: TEXT_HEADERS });
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
        headers: TEXT_HEADERS,
      });
    }
    const token = tokens.issue(ttl);
    if (log.enabled("debug")) log.debug("IMDS token issued", { ttl_seconds: ttl, peer: server.requestIP(req)?.address });
    // The Go SDK fails with "unable to parse API token" unless the TTL is echoed (§4).
    return new Response(token, { headers: { ...TEXT_HEADERS, [TTL_HEADER]: String(ttl) } });
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
 * IMDSv2: a GET must carry a valid, unexpired session token (401 otherwise). With v1 on, a GET
 * without one is served too, but a wrong or expired token is still a 401, as on EC2.
 */
function withImdsToken(next: Handler, tokens: ImdsTokenStore, imdsV1: boolean, log: Logger): Handler {
  return (req, server) => {
    const token = req.headers.get(TOKEN_HEADER);
    if (token === null ? imdsV1 : tokens.valid(token)) return next(req, server);
    if (log.enabled("debug")) log.debug("IMDS request refused: token missing, unknown or expired", { present: token !== null });
    return new Response("Unauthorized\n", { status: 401, headers: TEXT_HEADERS });
  };
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

/** The answer to every request a guard refuses. */
export function forbidden(): Response {
  return new Response("Forbidden\n", { status: 403, headers: TEXT_HEADERS });
}

function notFound(): Response {
  return new Response("Not Found\n", { status: 404, headers: TEXT_HEADERS });
}

function methodNotAllowed(allow: string): Response {
  return new Response("Method Not Allowed\n", { status: 405, headers: { ...TEXT_HEADERS, allow } });
}
