/**
 * The one error type credproxy raises on purpose. Every expected failure carries a stable
 * `code` (also used as a metrics label and to pick the exit code) and, where the user can do
 * something about it, a `hint` that says what.
 *
 * Messages never contain secrets: callers pass values through `redact()` from log.ts first.
 */
export const ErrorCode = {
  /** Bad command-line usage: unknown flag, missing argument. Exit 2. */
  Usage: "E_USAGE",
  /** The config file could not be read. */
  ConfigUnreadable: "E_CONFIG_UNREADABLE",
  /** The config file is not well-formed YAML/JSON. */
  ConfigSyntax: "E_CONFIG_SYNTAX",
  /** The config is well-formed but breaks the schema or a cross-field rule. */
  ConfigInvalid: "E_CONFIG_INVALID",
  /** A ${fromEnv:…} or ${fromFile:…} substitution failed. */
  ConfigSubstitution: "E_CONFIG_SUBSTITUTION",
  /** Source credentials could not be loaded (no chain link, bad profile, credential_process failed). */
  SourceCredentials: "E_SOURCE_CREDENTIALS",
  /** STS rejected or failed the AssumeRole call. */
  AssumeRole: "E_ASSUME_ROLE",
  /** STS did not answer within request_timeout. */
  StsTimeout: "E_STS_TIMEOUT",
  /** A listener could not be opened (port in use, permission). */
  Listen: "E_LISTEN",
  /** A platform feature is unavailable (missing capability, unsupported OS). */
  Platform: "E_PLATFORM",
  /** A Session Manager data channel frame could not be decoded or built (short, garbled, bad digest). */
  SsmProtocol: "E_SSM_PROTOCOL",
  /** The session asked for something credproxy refuses (a non-Port session, KMS encryption). */
  SsmHandshake: "E_SSM_HANDSHAKE",
  /** A data channel setting is unusable (ClientVersion too old, empty token). */
  SsmSetting: "E_SSM_SETTING",
  /** The byte stream between credproxy tunnel and credproxy agent broke the framing. */
  TunnelProtocol: "E_TUNNEL_PROTOCOL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface CredproxyErrorOptions {
  hint?: string | undefined;
  cause?: unknown;
  /** Extra structured facts for logs and JSON error bodies (never secrets). */
  details?: Record<string, unknown> | undefined;
}

export class CredproxyError extends Error {
  override readonly name = "CredproxyError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: CredproxyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }
}

/** Exit codes: 2 for usage errors (like argparse), 1 for every other expected failure. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CredproxyError) return error.code === ErrorCode.Usage ? 2 : 1;
  return 70; // EX_SOFTWARE: a bug, not a user error
}

export function isCredproxyError(error: unknown, code?: ErrorCode): error is CredproxyError {
  return error instanceof CredproxyError && (code === undefined || error.code === code);
}

/** Renders an error for a terminal: `error[E_X]: message` and, if any, `hint: …`. */
export function formatError(error: unknown): string {
  if (error instanceof CredproxyError) {
    return `error[${error.code}]: ${error.message}` + (error.hint ? `\n  hint: ${error.hint}` : "");
  }
  if (error instanceof Error) return `internal error (this is a bug, please report it): ${error.stack ?? error.message}`;
  return `internal error (this is a bug, please report it): ${String(error)}`;
}
