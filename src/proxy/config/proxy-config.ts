/**
 * The resolved, frozen configuration of `credproxy proxy`: what load-proxy-config.ts makes of
 * proxy.yaml (schema: proxy-schema.ts) and of each run file in runs_dir. Everything the proxy
 * decides per request reads from a Tenant; a reload swaps the whole ProxyConfig at once.
 */
import type { HostPattern } from "../host-pattern.ts";
import type { CanonicalTarget } from "../canonical-host.ts";
import type { Cidr } from "../../net/cidr.ts";
import type { SourceSpec } from "../../config/types.ts";

export type PolicyMode = "strict" | "permissive" | "report";
export type InterceptMode = "credentialed" | "all";

export interface ProxyConfig {
  /** Absolute path of the file read; undefined when the proxy runs on defaults alone. */
  readonly file: string | undefined;
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls: ProxyTlsConfig;
  /**
   * The tenant of requests that carry no run token: the top-level policy, allow, deny,
   * grants, allow_addresses and credentials. With runs_dir set, every request needs a run
   * token and this tenant serves none.
   */
  readonly defaultTenant: Tenant;
  /** The single-tenant token (top-level `token`): required in Proxy-Authorization when set. */
  readonly token: string | undefined;
  /** Absolute; one file per run (NAME.yaml / NAME.yml / NAME.json), hot-reloaded. */
  readonly runsDir: string | undefined;
  /** upstream_proxy; undefined = take HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment. */
  readonly upstreamProxy: UpstreamProxySetting;
  readonly limits: ProxyLimits;
  readonly logLevel: "debug" | "info" | "warn" | "error" | undefined;
  readonly metrics: { readonly enabled: boolean };
  /** Things worth saying at start that do not stop it (weak tokens). */
  readonly warnings: readonly string[];
}

export interface ProxyTlsConfig {
  /** Both set, or both undefined (then the CA lives in caDir, generated on first start). */
  readonly caCert: string | undefined;
  readonly caKey: string | undefined;
  /** Absolute: $XDG_CONFIG_HOME/credproxy/proxy-ca (else ~/.config/credproxy/proxy-ca) unless tls.ca_dir says. */
  readonly caDir: string;
  /** Absolute path the sandbox trust bundle is written to. */
  readonly trustBundle: string;
  /** Absolute path of extra PEM roots for upstreams, used beside the system roots. */
  readonly upstreamCaBundle: string | undefined;
  /** auto: a generated CA is limited (X.509 NameConstraints) to the hosts it may intercept. */
  readonly nameConstraints: "auto" | "off";
  /** Days a minted leaf certificate is valid (<= 99). */
  readonly leafValidityDays: number;
}

export type UpstreamProxySetting =
  | { readonly kind: "environment" }
  | { readonly kind: "none" }
  | { readonly kind: "url"; readonly url: URL; readonly noProxy: readonly string[] };

export interface ProxyLimits {
  /** Concurrent CONNECT tunnels and proxied connections; one more is answered 503. */
  readonly maxConnections: number;
  /** Bytes of a request head (request line + headers); more is 431. */
  readonly maxHeaderBytes: number;
  readonly tlsHandshakeTimeoutMs: number;
  /** A connection with no request in flight and no bytes moving is closed after this. */
  readonly idleTimeoutMs: number;
  /** Dialling an upstream (TCP + TLS) gives up after this: 504. */
  readonly connectTimeoutMs: number;
  /** Waiting for an upstream's response head; never under 5 minutes (LLM APIs think first). */
  readonly responseHeadTimeoutMs: number;
}

/** One tenant: the default (top level) or a run from runs_dir. Tenants never share anything. */
export interface Tenant {
  /** "default", or the run's name (its file name without extension). */
  readonly name: string;
  /** The run's token (runs only). */
  readonly token: string | undefined;
  readonly policy: PolicyMode;
  readonly intercept: InterceptMode;
  readonly allow: readonly HostPattern[];
  readonly deny: readonly HostPattern[];
  /** The grant names as written (their hosts are already expanded into grantHosts). */
  readonly grants: readonly string[];
  readonly grantHosts: readonly HostPattern[];
  readonly allowAddresses: readonly Cidr[];
  readonly credentials: readonly CredentialSpec[];
  /** The `aws:` credentials: roles whose credentials re-sign SigV4 requests to their hosts. */
  readonly awsCredentials: readonly AwsCredentialSpec[];
  /** `relays:`: /relay/NAME/… forwarded to a URL with a credential (targets the sandbox reaches around the proxy). */
  readonly relays: readonly RelaySpec[];
  /** `mcp:`: /mcp/NAME forwarded to a remote MCP server (streamable HTTP or SSE) with a credential. */
  readonly mcpServers: readonly RelaySpec[];
  /** The file the tenant comes from, for refusal bodies ("add it to allow in proxy.yaml"). */
  readonly source: string;
}

export interface CredentialSpec {
  /** Used in logs and metrics; never the value. */
  readonly name: string;
  /** The canonical hosts this credential may ever be sent to (`host:` one or a list). */
  readonly hosts: readonly HostPattern[];
  /** The header set (every client value of it removed first). Default Authorization. */
  readonly header: string;
  readonly value: CredentialValueSource;
  /** May be sent over plain http:// (default false). */
  readonly allowPlaintext: boolean;
  /**
   * The text the sandbox holds instead of the value (`placeholder:`, literal or derived from
   * its shape). With one, the credential sets no header: the value replaces the placeholder
   * wherever it appears in a request to its hosts (header values, Basic auth, path, query), and a
   * request carrying it to any other host is refused. Undefined: the whole header is set.
   */
  readonly placeholder: string | undefined;
  /** A request to its hosts whose `header` lacks the placeholder is refused (a smuggled real key). */
  readonly requirePlaceholder: boolean;
  /**
   * Also put the value in place of the placeholder in JSON, form and text request bodies
   * (`placeholder_in_body`, default false). Off by default because an API that stores what it
   * is sent (issues, gists, chat) would store the real value, for the sandbox to read back where
   * responses are not scrubbed (another host, a compressed or binary download).
   */
  readonly placeholderInBody: boolean;
  /** The variable `credproxy proxy env` prints the placeholder into (e.g. OPENAI_API_KEY). */
  readonly env: string | undefined;
}

/** One entry of `relays:` or `mcp:`, checked at load (src/proxy/relay/relay-config.ts). */
export interface RelaySpec {
  readonly name: string;
  /** http(s), no userinfo, query or fragment. */
  readonly url: URL;
  /** The URL's canonical host and port (the credential is bound to it). */
  readonly target: CanonicalTarget;
  readonly credential: CredentialSpec;
}

/** A credential with `aws:`: SigV4 requests to its hosts, signed with its placeholder keys, are signed again with the role's. */
export interface AwsCredentialSpec {
  readonly name: string;
  readonly hosts: readonly HostPattern[];
  readonly allowPlaintext: boolean;
  readonly roleArn: string;
  readonly source: SourceSpec;
  /** Region of the STS calls. */
  readonly region: string;
  readonly stsEndpoint: string | undefined;
  readonly durationSeconds: number;
  readonly sessionName: string;
  /**
   * Also served, as ECS container credentials, at GET /_credproxy/aws/credentials to the run
   * whose token asks (at most one per tenant). Off by default: it puts the role's keys in the sandbox.
   */
  readonly containerEndpoint: boolean;
}

export type CredentialValueSource =
  /**
   * `value:` with its ${fromEnv:}/${fromFile:} references unexpanded: the proxy expands it
   * itself, and again when a referenced file changes or an upstream answers 401/403.
   * `files` lists the absolute files it references.
   */
  | { readonly kind: "template"; readonly template: string; readonly files: readonly string[] }
  /**
   * `command:` run like credential_process: argv (no shell), its stdout JSON
   * {"Value": "...", "Expiration": "RFC 3339"?} or a bare line is the value; `format` wraps it
   * ("Bearer {}"); cached until Expiration (or for ttlSeconds).
   */
  | { readonly kind: "command"; readonly argv: readonly string[]; readonly format: string; readonly ttlSeconds: number; readonly timeoutMs: number };
