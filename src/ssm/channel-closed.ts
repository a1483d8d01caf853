/**
 * channel_closed (ssm-tunnel.md §2.4): the service says the session is over. Do not resume;
 * show `Output`. The payload's CreatedDate is a JSON string (ssm-tunnel-2.md §7: a number makes
 * the plugin's decode fail), so this parser accepts a string or a number and keeps it as text.
 */
import { jsonBytes, optionalString, parseJsonObject } from "./json-payload.ts";
import { MessageType } from "./message-types.ts";

export interface ChannelClosed {
  readonly messageId: string;
  readonly createdDate: string;
  readonly destinationId: string;
  readonly sessionId: string;
  readonly schemaVersion: number;
  /** The reason text, possibly empty. */
  readonly output: string;
}

/** Reads a channel_closed payload. Missing fields read as empty: only the fact of closing matters. */
export function parseChannelClosed(payload: Uint8Array): ChannelClosed {
  const json = parseJsonObject("channel_closed", payload);
  const createdDate = json["CreatedDate"];
  return {
    messageId: optionalString("channel_closed", json, "MessageId") ?? "",
    createdDate: typeof createdDate === "number" ? String(createdDate) : (optionalString("channel_closed", json, "CreatedDate") ?? ""),
    destinationId: optionalString("channel_closed", json, "DestinationId") ?? "",
    sessionId: optionalString("channel_closed", json, "SessionId") ?? "",
    schemaVersion: typeof json["SchemaVersion"] === "number" ? json["SchemaVersion"] : 1,
    output: optionalString("channel_closed", json, "Output") ?? "",
  };
}

/** A channel_closed payload as the service writes it (for the fake service and tests). */
export function buildChannelClosedPayload(closed: ChannelClosed): Uint8Array {
  return jsonBytes({
    MessageId: closed.messageId,
    CreatedDate: closed.createdDate,
    DestinationId: closed.destinationId,
    SessionId: closed.sessionId,
    MessageType: MessageType.ChannelClosed,
    SchemaVersion: closed.schemaVersion,
    Output: closed.output,
  });
}
