import { CredproxyError, ErrorCode } from "../errors.ts";

/** A CredproxyError as it is, anything else (a TUN or platform failure) wrapped with what failed. */
export function asError(error: unknown, what: string): CredproxyError {
  if (error instanceof CredproxyError) return error;
  return new CredproxyError(ErrorCode.Platform, `${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
