/**
 * Acknowledge messages (ssm-tunnel.md §2.6): MessageType "acknowledge", SequenceNumber 0,
 * Flags SYN|FIN, PayloadType 0, and a compact JSON payload naming the acked message. Both
 * reference implementations match acks by sequence number only; the id is informational.
 */
import type { ClientMessage } from "./client-message.ts";
import { jsonBytes, optionalString, parseJsonObject } from "./json-payload.ts";
import { HeaderFlag, MessageType, PayloadType, SCHEMA_VERSION } from "./message-types.ts";
import { protocolError } from "./ssm-error.ts";

export interface AcknowledgeContent {
  readonly acknowledgedMessageType: string;
  readonly acknowledgedMessageId: string;
  readonly acknowledgedMessageSequenceNumber: number;
  readonly isSequentialMessage: boolean;
}

/** The acknowledge message for `acked`, itself identified by `messageId`, created at `now` (Unix ms). */
export function buildAcknowledge(acked: ClientMessage, messageId: string, now: number): ClientMessage {
  return {
    messageType: MessageType.Acknowledge,
    schemaVersion: SCHEMA_VERSION,
    createdDate: now,
    sequenceNumber: 0,
    flags: HeaderFlag.Syn | HeaderFlag.Fin,
    messageId,
    payloadType: PayloadType.None,
    payload: jsonBytes({
      AcknowledgedMessageType: acked.messageType,
      AcknowledgedMessageId: acked.messageId,
      AcknowledgedMessageSequenceNumber: acked.sequenceNumber,
      IsSequentialMessage: true,
    }),
  };
}

/** Reads an acknowledge payload. Only the sequence number must be present and sane. */
export function parseAcknowledge(payload: Uint8Array): AcknowledgeContent {
  const json = parseJsonObject("acknowledge", payload);
  const sequenceNumber = json["AcknowledgedMessageSequenceNumber"];
  if (typeof sequenceNumber !== "number" || !Number.isSafeInteger(sequenceNumber)) {
    throw protocolError("json-field", "acknowledge has no integer AcknowledgedMessageSequenceNumber");
  }
  return {
    acknowledgedMessageType: optionalString("acknowledge", json, "AcknowledgedMessageType") ?? "",
    acknowledgedMessageId: optionalString("acknowledge", json, "AcknowledgedMessageId") ?? "",
    acknowledgedMessageSequenceNumber: sequenceNumber,
    isSequentialMessage: json["IsSequentialMessage"] !== false,
  };
}
