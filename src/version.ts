declare const CREDPROXY_VERSION: string | undefined;
declare const CREDPROXY_COMMIT: string | undefined;
declare const CREDPROXY_BUILD_DATE: string | undefined;

/** The release version, embedded at build time (falls back to "dev" when run from source). */
export const VERSION: string = typeof CREDPROXY_VERSION === "string" ? CREDPROXY_VERSION : "0.0.0-dev";
/** The git commit the binary was built from, or "unknown". */
export const COMMIT: string = typeof CREDPROXY_COMMIT === "string" ? CREDPROXY_COMMIT : "unknown";
/** When the binary was built (ISO 8601, UTC; SOURCE_DATE_EPOCH, else the commit's time), or "unknown" from source. */
export const BUILD_DATE: string = typeof CREDPROXY_BUILD_DATE === "string" ? CREDPROXY_BUILD_DATE : "unknown";

/** What `credproxy --version` prints. */
export function versionLine(): string {
  return `credproxy ${VERSION} (commit ${COMMIT})`;
}

/** What `credproxy --version --json` prints: everything a bug report needs about the binary. */
export interface VersionInfo {
  readonly version: string;
  readonly commit: string;
  readonly buildDate: string;
  /** The platform the binary runs on, in npm's os-cpu spelling: linux-x64, darwin-arm64, … */
  readonly platform: string;
  /** The Bun runtime embedded in the binary. */
  readonly bun: string;
}

export function versionInfo(): VersionInfo {
  return { version: VERSION, commit: COMMIT, buildDate: BUILD_DATE, platform: `${process.platform}-${process.arch}`, bun: Bun.version };
}

/**
 * The build date: SOURCE_DATE_EPOCH (seconds since 1970, the reproducible-builds convention)
 * when set, else `now` (build.ts passes the commit's time, so two builds of one commit agree);
 * ISO 8601 in UTC, to the second.
 */
export function buildDate(env: Readonly<Record<string, string | undefined>> = process.env, now: Date = new Date()): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== "") {
    if (!/^\d{1,12}$/.test(epoch)) throw new Error(`SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not "${epoch}"`);
    now = new Date(Number(epoch) * 1000);
  }
  return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}
