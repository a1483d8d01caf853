/** Errors raised by the Session Manager data channel core, with the SSM codes of ErrorCode. */
import { CredproxyError, ErrorCode, type CredproxyErrorOptions } from "../errors.ts";

export const SsmErrorCode = {
  Protocol: ErrorCode.SsmProtocol,
  Handshake: ErrorCode.SsmHandshake,
  Setting: ErrorCode.SsmSetting,
} as const;
export type SsmErrorCode = (typeof SsmErrorCode)[keyof typeof SsmErrorCode];

/** A CredproxyError carrying one of the SSM codes. */
export function ssmError(code: SsmErrorCode, message: string, options: CredproxyErrorOptions = {}): CredproxyError {
  return new CredproxyError(code, message, options);
}

/** A decode/encode failure; `reason` is a stable word for counters ("short", "digest", …). */
export function protocolError(reason: string, message: string, details: Record<string, unknown> = {}): CredproxyError {
  return ssmError(SsmErrorCode.Protocol, message, { details: { reason, ...details } });
}
