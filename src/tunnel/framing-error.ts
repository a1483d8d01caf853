import { CredproxyError, ErrorCode, type CredproxyErrorOptions } from "../errors.ts";

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

export type FramingErrorOptions = Pick<CredproxyErrorOptions, "hint" | "details">;

/**
 * The only error the framing code throws. A decoder that throws one has stopped for good:
 * the stream is out of step and cannot be resynchronised, so the caller sends
 * CLOSE(`closeReason`, message) and ends the connection. A CredproxyError with code
 * E_TUNNEL_PROTOCOL, so the CLI formats and counts it like every other expected failure.
 */
export class FramingError extends CredproxyError {
  readonly kind: FramingErrorKind;

  constructor(kind: FramingErrorKind, message: string, options: FramingErrorOptions = {}) {
    super(ErrorCode.TunnelProtocol, message, options);
    this.kind = kind;
  }

  /** The CLOSE reason to send to the peer for this error. */
  get closeReason(): CloseReason {
    return this.kind === "version_unsupported" ? CloseReason.VersionUnsupported : CloseReason.ProtocolError;
  }
}
