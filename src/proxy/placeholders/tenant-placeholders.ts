/**
 * The placeholders of a tenant, each with its credential: what the request side substitutes
 * at the credential's hosts and refuses everywhere else, and what body substitution and
 * response scrubbing work from. Longest first, so where one placeholder could start inside
 * another's text the longer is tried first (load refuses one inside another anyway).
 */
import type { CredentialSpec, Tenant } from "../config/proxy-config.ts";

export interface TenantPlaceholder {
  readonly credential: CredentialSpec;
  readonly placeholder: string;
}

const cache = new WeakMap<Tenant, readonly TenantPlaceholder[]>();

export function tenantPlaceholders(tenant: Pick<Tenant, "credentials">): readonly TenantPlaceholder[] {
  const cached = cache.get(tenant as Tenant);
  if (cached) return cached;
  const list = tenant.credentials
    .filter((c): c is CredentialSpec & { placeholder: string } => c.placeholder !== undefined)
    .map((credential) => ({ credential, placeholder: credential.placeholder }))
    .sort((a, b) => b.placeholder.length - a.placeholder.length);
  cache.set(tenant as Tenant, Object.freeze(list));
  return list;
}
