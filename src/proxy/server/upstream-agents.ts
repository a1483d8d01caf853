/**
 * Keep-alive connection pools to upstreams, one set per tenant: a connection a tenant's
 * checks allowed is never reused for another tenant, whose allow_addresses may differ.
 * Upstream TLS trusts the system roots plus tls.upstream_ca_bundle, in one secure context
 * built once (a context per connection would cost a parse of every root each time).
 */
import { readFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { rootCertificates } from "node:tls";
import { CredproxyError, ErrorCode } from "../../errors.ts";

export class UpstreamAgents {
  readonly #https = new Map<string, HttpsAgent>();
  readonly #http = new Map<string, HttpAgent>();
  readonly ca: readonly string[];

  constructor(upstreamCaBundle: string | undefined) {
    this.ca = [...rootCertificates, ...(upstreamCaBundle ? readBundle(upstreamCaBundle) : [])];
  }

  https(tenant: string): HttpsAgent {
    let agent = this.#https.get(tenant);
    if (!agent) this.#https.set(tenant, (agent = new HttpsAgent({ keepAlive: true, maxFreeSockets: 64, ca: [...this.ca] })));
    return agent;
  }

  http(tenant: string): HttpAgent {
    let agent = this.#http.get(tenant);
    if (!agent) this.#http.set(tenant, (agent = new HttpAgent({ keepAlive: true, maxFreeSockets: 64 })));
    return agent;
  }

  /** Closes the pools of tenants that are gone (or all), so no connection outlives its checks. */
  retain(tenants: ReadonlySet<string> | undefined): void {
    for (const pools of [this.#https, this.#http] as Map<string, HttpAgent>[]) {
      for (const [name, agent] of pools) {
        if (tenants?.has(name)) continue;
        agent.destroy();
        pools.delete(name);
      }
    }
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
