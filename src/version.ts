declare const CREDPROXY_VERSION: string | undefined;
declare const CREDPROXY_COMMIT: string | undefined;

/** The release version, embedded at build time (falls back to "dev" when run from source). */
export const VERSION: string = typeof CREDPROXY_VERSION === "string" ? CREDPROXY_VERSION : "0.0.0-dev";
/** The git commit the binary was built from, or "unknown". */
export const COMMIT: string = typeof CREDPROXY_COMMIT === "string" ? CREDPROXY_COMMIT : "unknown";

/** What `credproxy --version` prints. */
export function versionLine(): string {
  return `credproxy ${VERSION} (commit ${COMMIT})`;
}
