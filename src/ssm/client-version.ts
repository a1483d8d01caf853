/**
 * The ClientVersion credproxy reports in the open frame and the HandshakeResponse. The agent
 * switches behaviour on it (smux, smux keepalive), and AWS documents plugin 1.2.764.0 as the
 * minimum supported (ssm-tunnel-2.md §1.3), so it must be a 4-part number not below that.
 */
import { SsmErrorCode, ssmError } from "./ssm-error.ts";

/** The minimum AWS supports since 2025-11 (signed upgrades). */
export const MINIMUM_CLIENT_VERSION = "1.2.764.0";
/** A current plugin release (2026-10); high values are safe because the agent only compares "greater than". */
export const DEFAULT_CLIENT_VERSION = "1.2.896.0";

/** Compares two dotted numeric versions; missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const left = a.split(".").map(Number);
  const right = b.split(".").map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

/** Returns `version` if it is a 4-part number ≥ MINIMUM_CLIENT_VERSION; else a user-facing error. */
export function checkClientVersion(version: string): string {
  if (!/^\d{1,9}\.\d{1,9}\.\d{1,9}\.\d{1,9}$/.test(version)) {
    throw ssmError(SsmErrorCode.Setting, `client version ${JSON.stringify(version)} is not a 4-part number like ${DEFAULT_CLIENT_VERSION}`, {
      hint: "The SSM agent compares this value numerically; leave the setting unset to send the default.",
    });
  }
  if (compareVersions(version, MINIMUM_CLIENT_VERSION) < 0) {
    throw ssmError(SsmErrorCode.Setting, `client version ${version} is below ${MINIMUM_CLIENT_VERSION}, the oldest Session Manager client AWS supports`, {
      hint: `Use ${DEFAULT_CLIENT_VERSION} (the default) or newer.`,
    });
  }
  return version;
}
