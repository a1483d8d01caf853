/**
 * The role key ids the container endpoint handed to each tenant, until they expire. A request
 * signed with one of them is the sandbox using the keys it was given (the container-endpoint
 * way), not real keys smuggled in: the proxy forwards it as it is, with nothing to re-sign.
 * Old ids are kept after the role is refreshed, since an SDK signs with what it fetched until
 * its own refresh; they are dropped when they expire. Only key ids are held, never a secret.
 */
export class ServedKeys {
  /** tenant → key id → expiry (ms since the epoch) */
  readonly #byTenant = new Map<string, Map<string, number>>();

  add(tenant: string, keyId: string, expiration: Date, now = Date.now()): void {
    let keys = this.#byTenant.get(tenant);
    if (!keys) this.#byTenant.set(tenant, (keys = new Map()));
    for (const [id, until] of keys) if (until <= now) keys.delete(id);
    keys.set(keyId, expiration.getTime());
  }

  /** Whether `keyId` was served to `tenant` and has not expired. */
  has(tenant: string, keyId: string, now = Date.now()): boolean {
    const until = this.#byTenant.get(tenant)?.get(keyId);
    return until !== undefined && until > now;
  }

  /** After a reload: forget the tenants that are gone. */
  retain(tenants: ReadonlySet<string>): void {
    for (const name of this.#byTenant.keys()) if (!tenants.has(name)) this.#byTenant.delete(name);
  }
}
