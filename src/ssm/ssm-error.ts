/**
 * Errors raised by the Session Manager data channel core.
 *
 * These codes belong in `ErrorCode` (src/errors.ts). This slice was built under the rule "touch
 * nothing outside src/ssm/", so they live here and `ssmError()` is the one place that widens
 * them to `ErrorCode`; moving them is a three-line change when the branch is merged.
 */
import { CredproxyError, type CredproxyErrorOptions, type ErrorCode } from "../errors.ts";

export const SsmErrorCode = {
  /** A frame from the service could not be decoded (short, garbled, bad digest) or could not be built. */
  Protocol: "E_SSM_PROTOCOL",
  /** The session asked for something credproxy refuses (a non-Port session, KMS encryption). */
  Handshake: "E_SSM_HANDSHAKE",
  /** A data channel setting is unusable (ClientVersion too old, empty token). */
  Setting: "E_SSM_SETTING",
} as const;
export type SsmErrorCode = (typeof SsmErrorCode)[keyof typeof SsmErrorCode];

/** A CredproxyError carrying one of the SSM codes. */
export function ssmError(code: SsmErrorCode, message: string, options: CredproxyErrorOptions = {}): CredproxyError {
  return new CredproxyError(code as unknown as ErrorCode, message, options);
}

/** A decode/encode failure; `reason` is a stable word for counters ("short", "digest", …). */
export function protocolError(reason: string, message: string, details: Record<string, unknown> = {}): CredproxyError {
  return ssmError(SsmErrorCode.Protocol, message, { details: { reason, ...details } });
}
