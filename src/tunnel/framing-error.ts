/**
 * Why a tunnel connection is being closed. Sent in a CLOSE frame and carried by every
 * FramingError, so whoever catches a decoder error knows which CLOSE to send before hanging up.
 * Codes are stable on the wire; a peer may send a code we do not know (it decodes as a number).
 */
export const CloseReason = {
  /** Orderly end: `tunnel down`, or the agent shutting down. */
  Normal: 0,
  /** The peer speaks a different major protocol version. */
  VersionUnsupported: 1,
  /** The byte stream broke the framing rules (garbage, oversize, wrong order). */
  ProtocolError: 2,
  /** The agent refused this client (peer check, allow-list, no free addresses). */
  NotAllowed: 3,
  /** No HELLO, or no PONG, in time. */
  Timeout: 4,
  /** Something failed on the sender's side that is not the peer's fault. */
  InternalError: 5,
} as const;
export type CloseReason = (typeof CloseReason)[keyof typeof CloseReason];

/** The ways a byte stream can break the framing; stable strings for logs and counters. */
export type FramingErrorKind =
  | "bad_magic"
  | "bad_body"
  | "frame_too_large"
  | "unexpected_frame"
  | "unknown_type"
  | "version_unsupported";

export interface FramingErrorOptions {
  hint?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

/**
 * The only error the framing code throws. A decoder that throws one has stopped for good:
 * the stream is out of step and cannot be resynchronised, so the caller sends
 * CLOSE(`closeReason`, message) and ends the connection.
 *
 * (Standalone rather than a CredproxyError because src/errors.ts has no tunnel code yet;
 * it has the same code/hint/details shape so it can be rebased on one later.)
 */
export class FramingError extends Error {
  override readonly name = "FramingError";
  readonly kind: FramingErrorKind;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(kind: FramingErrorKind, message: string, options: FramingErrorOptions = {}) {
    super(message);
    this.kind = kind;
    this.hint = options.hint;
    this.details = options.details;
  }

  /** The CLOSE reason to send to the peer for this error. */
  get closeReason(): CloseReason {
    return this.kind === "version_unsupported" ? CloseReason.VersionUnsupported : CloseReason.ProtocolError;
  }
}
