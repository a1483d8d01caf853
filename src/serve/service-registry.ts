import type { ServiceSpec } from "../config/types.ts";
import type { RefreshingCredentials } from "../credentials/refreshing-credentials.ts";
import { TokenIndex } from "../http/token-index.ts";
import type { Logger } from "../log.ts";

/** What the registry needs from a service's credentials (the refreshing cache in practice). */
export type ServiceCredentials = Pick<RefreshingCredentials, "get" | "peek" | "status" | "start" | "stop">;

export interface ServiceEntry {
  readonly spec: ServiceSpec;
  readonly credentials: ServiceCredentials;
}

export type CredentialsFactory = (spec: ServiceSpec) => ServiceCredentials;

/** A refused dynamic service: why, in words naming the holder (for the log), and which rule it broke. */
export interface RefusedService {
  readonly name: string;
  readonly reason: string;
  readonly clash: "name" | "auth_token" | "relative_uri";
}

export interface FileChange {
  added: string[];
  updated: string[];
  removed: string[];
  refused: RefusedService[];
}

/**
 * The live set of services: static ones from the main config plus those defined by dynamic
 * files. Owns each service's credential cache and the token index used to pick a service.
 *
 * Invariants: a name belongs to exactly one origin (static wins; the first file to claim a
 * name keeps it); a token selects exactly one service; a file only ever adds, changes or
 * removes the services it defines itself.
 */
export class ServiceRegistry {
  readonly #byName = new Map<string, ServiceEntry>();
  #tokens = new TokenIndex<ServiceEntry>([]);
  #paths = new TokenIndex<ServiceEntry>([]);
  readonly #factory: CredentialsFactory;
  readonly #log: Logger;
  readonly #onChange: (registry: ServiceRegistry, removed: readonly string[]) => void;

  constructor(options: {
    factory: CredentialsFactory;
    logger: Logger;
    onChange?: (registry: ServiceRegistry, removed: readonly string[]) => void;
  }) {
    this.#factory = options.factory;
    this.#log = options.logger;
    this.#onChange = options.onChange ?? (() => {});
  }

  get size(): number {
    return this.#byName.size;
  }

  list(): ServiceEntry[] {
    return [...this.#byName.values()];
  }

  get(name: string): ServiceEntry | undefined {
    return this.#byName.get(name);
  }

  byToken(authorization: string): ServiceEntry | undefined {
    return this.#tokens.lookup(authorization);
  }

  /** The service whose secret `relative_uri` is exactly `path` (compared in constant time, like tokens). */
  byRelativeUri(path: string): ServiceEntry | undefined {
    return this.#paths.size === 0 ? undefined : this.#paths.lookup(path);
  }

  /** Adds the static services (validated together by the config loader, so no clashes). */
  addStatic(specs: readonly ServiceSpec[]): void {
    for (const spec of specs) this.#put(spec);
    this.#changed([]);
  }

  /**
   * Makes the services of `file` exactly `specs`: new names are added, changed definitions
   * get a fresh credential cache (so a new role takes effect at once), unchanged ones keep
   * theirs, and names the file no longer defines are removed. Clashing names or tokens are
   * refused with a reason and never disturb the service that already holds them.
   */
  applyFile(file: string, specs: readonly ServiceSpec[]): FileChange {
    const change: FileChange = { added: [], updated: [], removed: [], refused: [] };
    const wanted = new Set<string>();
    // Secrets claimed so far in this file, so two of its own services cannot share one either.
    const claimedTokens = new Map<string, string>();
    const claimedPaths = new Map<string, string>();
    for (const spec of specs) {
      const existing = this.#byName.get(spec.name);
      if (existing && !ownedBy(existing, file)) {
        const owner = existing.spec.origin.kind === "static" ? "a static service" : `a service from ${originFile(existing)}`;
        change.refused.push({ name: spec.name, reason: `the name is already used by ${owner}`, clash: "name" });
        continue;
      }
      const clash =
        claimedBy(spec.authToken, spec.name, claimedTokens, this.#tokens, "auth_token") ??
        claimedBy(spec.relativeUri, spec.name, claimedPaths, this.#paths, "relative_uri");
      if (clash) {
        change.refused.push(clash);
        continue;
      }
      if (spec.authToken !== undefined) claimedTokens.set(spec.authToken, spec.name);
      if (spec.relativeUri !== undefined) claimedPaths.set(spec.relativeUri, spec.name);
      wanted.add(spec.name);
      if (!existing) {
        this.#put(spec);
        change.added.push(spec.name);
      } else if (!sameSpec(existing.spec, spec)) {
        existing.credentials.stop();
        this.#put(spec);
        change.updated.push(spec.name);
      }
    }
    for (const entry of this.#fromFile(file)) {
      if (!wanted.has(entry.spec.name)) {
        this.#drop(entry);
        change.removed.push(entry.spec.name);
      }
    }
    for (const r of change.refused) this.#log.warn("dynamic service refused", { file, service: r.name, reason: r.reason });
    if (change.added.length + change.updated.length + change.removed.length > 0) this.#changed(change.removed);
    return change;
  }

  /** Removes every service `file` defined, and nothing else. */
  removeFile(file: string): string[] {
    const removed = this.#fromFile(file).map((entry) => {
      this.#drop(entry);
      return entry.spec.name;
    });
    if (removed.length > 0) this.#changed(removed);
    return removed;
  }

  stop(): void {
    for (const entry of this.#byName.values()) entry.credentials.stop();
  }

  #put(spec: ServiceSpec): void {
    const credentials = this.#factory(spec);
    this.#byName.set(spec.name, { spec, credentials });
    credentials.start();
  }

  #drop(entry: ServiceEntry): void {
    entry.credentials.stop();
    this.#byName.delete(entry.spec.name);
  }

  #fromFile(file: string): ServiceEntry[] {
    return this.list().filter((entry) => ownedBy(entry, file));
  }

  #changed(removed: readonly string[]): void {
    const entries = this.list();
    this.#tokens = new TokenIndex(entries.flatMap((e) => (e.spec.authToken === undefined ? [] : [[e.spec.authToken, e] as const])));
    this.#paths = new TokenIndex(entries.flatMap((e) => (e.spec.relativeUri === undefined ? [] : [[e.spec.relativeUri, e] as const])));
    this.#onChange(this, removed);
  }
}

/**
 * Why `name` may not use `secret` (a token or path another service holds), or undefined. The
 * reason names the owner, for the log only: /health says just that the value is not unique.
 */
function claimedBy(
  secret: string | undefined,
  name: string,
  inThisFile: Map<string, string>,
  index: TokenIndex<ServiceEntry>,
  key: "auth_token" | "relative_uri",
): RefusedService | undefined {
  if (secret === undefined) return undefined;
  const owner = inThisFile.get(secret) ?? index.lookup(secret)?.spec.name;
  return owner !== undefined && owner !== name ? { name, reason: `its ${key} is already used by service "${owner}"`, clash: key } : undefined;
}

function ownedBy(entry: ServiceEntry, file: string): boolean {
  return entry.spec.origin.kind === "dynamic" && entry.spec.origin.file === file;
}

function originFile(entry: ServiceEntry): string {
  return entry.spec.origin.kind === "dynamic" ? entry.spec.origin.file : "the main config";
}

function sameSpec(a: ServiceSpec, b: ServiceSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
