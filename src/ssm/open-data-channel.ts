/**
 * The first WebSocket frame of a data channel: a text frame with this JSON object, fields in the
 * plugin's order (ssm-tunnel.md §2.2). Without it the service closes with 1003.
 */
import { checkClientVersion, DEFAULT_CLIENT_VERSION } from "./client-version.ts";
import { SsmErrorCode, ssmError } from "./ssm-error.ts";
import { isUuid } from "./uuid-bytes.ts";

export interface OpenDataChannelInput {
  /** TokenValue from StartSession or, on reconnect, from ResumeSession. */
  readonly tokenValue: string;
  /** Generated once per StartSession and reused on every reconnect of that session. */
  readonly clientId: string;
  /** A fresh UUID v4 per open. */
  readonly requestId: string;
  /** Defaults to DEFAULT_CLIENT_VERSION; must be ≥ 1.2.764.0. */
  readonly clientVersion?: string;
}

/** The open frame's text. Refuses an empty token (ResumeSession's sign that the session is gone). */
export function buildOpenDataChannelFrame(input: OpenDataChannelInput): string {
  if (input.tokenValue === "") {
    throw ssmError(SsmErrorCode.Setting, "the session token is empty: the session has timed out or been terminated", {
      hint: "Start a new session.",
    });
  }
  for (const [name, value] of [["client id", input.clientId], ["request id", input.requestId]] as const) {
    if (!isUuid(value)) throw ssmError(SsmErrorCode.Setting, `${name} is not a UUID`);
  }
  return JSON.stringify({
    MessageSchemaVersion: "1.0",
    RequestId: input.requestId.toLowerCase(),
    TokenValue: input.tokenValue,
    ClientId: input.clientId.toLowerCase(),
    ClientVersion: checkClientVersion(input.clientVersion ?? DEFAULT_CLIENT_VERSION),
  });
}
