/**
 * The role credentials behind each `aws:` credential, from the credential core serve uses
 * (source → sts:AssumeRole → the refreshing cache: one fetch in flight, refreshed ahead of
 * expiry, the last good credentials kept while STS fails). One cache per tenant and role
 * settings, made on first use; a reload stops the caches no tenant uses any more. The
 * credentials never leave this process except as signatures.
 */
import type { CredentialSettings, ServiceSpec } from "../../config/types.ts";
import { createServiceCredentials } from "../../credentials/service-credentials.ts";
import type { RefreshingCredentials } from "../../credentials/refreshing-credentials.ts";
import type { RoleCredentials } from "../../credentials/types.ts";
import type { Logger } from "../../log.ts";
import type { AwsCredentialSpec, Tenant } from "../config/proxy-config.ts";
import { ServedKeys } from "./served-keys.ts";

/**
 * Retry within a minute, give up a call after 30 s (serve's defaults); refresh with 20 minutes
 * of life left (a third of it for short roles: 5 minutes of a 15-minute one), so what the
 * container endpoint serves never falls inside botocore's 15-minute advisory window, in which
 * it would fetch again on every call (aws-credential-protocols.md §1-2).
 */
export function roleSettings(durationSeconds: number): CredentialSettings {
  return { refreshBufferSeconds: Math.min(1200, Math.floor(durationSeconds / 3)), retryDelaySeconds: 60, requestTimeoutSeconds: 30 };
}

export class AwsRoles {
  readonly #logger: Logger;
  readonly #caches = new Map<string, RefreshingCredentials>();
  /** Key ids the container endpoint handed out: requests signed with them pass unchanged. */
  readonly served = new ServedKeys();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** The role's current credentials (waits for the first fetch). Throws a CredproxyError naming the role, never a secret. */
  credentials(tenant: Pick<Tenant, "name">, spec: AwsCredentialSpec): Promise<RoleCredentials> {
    return this.#cache(tenant, spec).get();
  }

  /** Real key ids behind the credential that are known now: the role's cached one, a static source key. */
  realKeyIds(tenant: Pick<Tenant, "name">, spec: AwsCredentialSpec): string[] {
    const ids = [this.#caches.get(keyOf(tenant, spec))?.peek()?.accessKeyId];
    if (spec.source.kind === "static") ids.push(spec.source.accessKeyId);
    return ids.filter((id): id is string => id !== undefined);
  }

  /** After a reload: stop the caches of roles no tenant has any more. */
  retain(tenants: readonly Tenant[]): void {
    this.served.retain(new Set(tenants.map((t) => t.name)));
    const live = new Set(tenants.flatMap((t) => t.awsCredentials.map((c) => keyOf(t, c))));
    for (const [key, cache] of this.#caches) {
      if (live.has(key)) continue;
      cache.stop();
      this.#caches.delete(key);
    }
  }

  stop(): void {
    for (const cache of this.#caches.values()) cache.stop();
    this.#caches.clear();
  }

  #cache(tenant: Pick<Tenant, "name">, spec: AwsCredentialSpec): RefreshingCredentials {
    const key = keyOf(tenant, spec);
    let cache = this.#caches.get(key);
    if (!cache) {
      cache = createServiceCredentials(serviceSpec(tenant, spec), roleSettings(spec.durationSeconds), { logger: this.#logger });
      cache.start(); // refresh ahead of expiry from now on, not on the request path
      this.#caches.set(key, cache);
    }
    return cache;
  }
}

function serviceSpec(tenant: Pick<Tenant, "name">, spec: AwsCredentialSpec): ServiceSpec {
  return {
    name: tenant.name === "default" ? spec.name : `${tenant.name}/${spec.name}`,
    region: spec.region,
    source: spec.source,
    stsEndpoint: spec.stsEndpoint,
    assumeRole: { RoleArn: spec.roleArn, RoleSessionName: spec.sessionName, DurationSeconds: spec.durationSeconds },
    origin: { kind: "static" },
  };
}

/** A changed role, source or duration is another cache; the hosts and the container endpoint do not matter to it. */
function keyOf(tenant: Pick<Tenant, "name">, spec: AwsCredentialSpec): string {
  const { hosts: _hosts, allowPlaintext: _plain, containerEndpoint: _served, ...role } = spec;
  return JSON.stringify([tenant.name, role]);
}
