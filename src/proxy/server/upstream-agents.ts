/**
 * Keep-alive connection pools to upstreams, one set per tenant: a connection a tenant's
 * checks allowed is never reused for another tenant, whose allow_addresses may differ.
 * Upstream TLS trusts the system roots plus tls.upstream_ca_bundle, in one secure context
 * built once and passed to every request: `ca` in the request options would make the pool
 * key out of ~200 KB of PEM on every request and parse every root again on every new
 * connection (measured: half of all CPU under load, 15 ms per connection).
 */
import { readFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { RequestOptions } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect, createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { tunnelThrough, type UpstreamProxyRoute } from "./upstream-proxy.ts";
import { UpstreamH1 } from "./upstream-h1.ts";
import { UpstreamH2 } from "./upstream-h2.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";

export class UpstreamAgents {
  readonly #https = new Map<string, HttpsAgent>();
  readonly #http = new Map<string, HttpAgent>();
  readonly secureContext: SecureContext;
  readonly h2 = new UpstreamH2();
  /** HTTP/1.1 without node:http, for requests whose body length is known (the tunnels' fast path). */
  readonly h1 = new UpstreamH1();

  constructor(upstreamCaBundle: string | undefined) {
    this.secureContext = createSecureContext({ ca: [...rootCertificates, ...(upstreamCaBundle ? readBundle(upstreamCaBundle) : [])] });
  }

  https(tenant: string): HttpsAgent {
    let agent = this.#https.get(tenant);
    if (!agent) this.#https.set(tenant, (agent = new HttpsAgent({ keepAlive: true, maxFreeSockets: 64 })));
    return agent;
  }

  /** HTTPS to upstreams through a corporate proxy: each new connection is a CONNECT there, then TLS inside. */
  chained(tenant: string, route: UpstreamProxyRoute, connectTimeoutMs: number): HttpsAgent {
    const key = `${tenant}\0${route.host}:${route.port}\0${route.authorization ?? ""}`;
    let agent = this.#https.get(key);
    if (!agent) this.#https.set(key, (agent = new ChainedAgent(route, connectTimeoutMs, { keepAlive: true, maxFreeSockets: 64 })));
    return agent;
  }

  http(tenant: string): HttpAgent {
    let agent = this.#http.get(tenant);
    if (!agent) this.#http.set(tenant, (agent = new HttpAgent({ keepAlive: true, maxFreeSockets: 64 })));
    return agent;
  }

  /** Closes the pools of tenants that are gone (or all), so no connection outlives its checks. */
  retain(tenants: ReadonlySet<string> | undefined): void {
    this.h2.retain(tenants);
    this.h1.retain(tenants);
    for (const pools of [this.#https, this.#http] as Map<string, HttpAgent>[]) {
      for (const [name, agent] of pools) {
        if (tenants?.has(name)) continue;
        agent.destroy();
        pools.delete(name);
      }
    }
  }
}

type ConnectOptions = { host?: string; port?: number; servername?: string; secureContext?: SecureContext };

class ChainedAgent extends HttpsAgent {
  readonly #route: UpstreamProxyRoute;
  readonly #timeoutMs: number;

  constructor(route: UpstreamProxyRoute, timeoutMs: number, options: ConstructorParameters<typeof HttpsAgent>[0]) {
    super(options);
    this.#route = route;
    this.#timeoutMs = timeoutMs;
  }

  override createConnection(requestOptions: RequestOptions, done?: (error: Error | null, stream: Duplex) => void): undefined {
    const options = requestOptions as ConnectOptions;
    const callback = done as (error: Error | null, stream?: Socket) => void;
    const host = options.host ?? "";
    const authority = `${host.includes(":") ? `[${host}]` : host}:${options.port ?? 443}`;
    void tunnelThrough(this.#route, authority, this.#timeoutMs).then((result) => {
      if (!("socket" in result)) {
        const why = result.status ? `answered ${result.status}` : result.failure;
        return callback(Object.assign(new Error(`upstream proxy ${this.#route.authority} ${why}`), { code: result.failure === "timeout" ? "ETIMEDOUT" : "ECONNREFUSED" }));
      }
      callback(null, tlsConnect({ socket: result.socket, servername: options.servername ?? host, ...(options.secureContext ? { secureContext: options.secureContext } : {}) }));
    });
    return undefined;
  }
}

function readBundle(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `Cannot read tls.upstream_ca_bundle ${path}: ${(error as { code?: string }).code ?? error}`, {
      hint: "point tls.upstream_ca_bundle at a readable PEM file of CA certificates",
    });
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new CredproxyError(ErrorCode.ConfigInvalid, `tls.upstream_ca_bundle ${path} holds no PEM certificate`, {
      hint: "the file must contain -----BEGIN CERTIFICATE----- blocks",
    });
  }
  return blocks;
}
