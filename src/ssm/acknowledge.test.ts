import { describe, expect, test } from "bun:test";
import { buildAcknowledge, parseAcknowledge } from "./acknowledge.ts";
import { decodeClientMessage, encodeClientMessage, type ClientMessage } from "./client-message.ts";
import { MessageType, PayloadType } from "./message-types.ts";

const ACKED: ClientMessage = {
  messageType: MessageType.OutputStreamData,
  schemaVersion: 1,
  createdDate: 1_700_000_000_000,
  sequenceNumber: 42,
  flags: 0n,
  messageId: "dd01e56b-ff48-483e-a508-b5f073f31b16",
  payloadType: PayloadType.Output,
  payload: new Uint8Array([1, 2, 3]),
};
const ACK_ID = "11111111-2222-4333-8444-555555555555";

describe("buildAcknowledge()", () => {
  const ack = buildAcknowledge(ACKED, ACK_ID, 1_700_000_000_500);

  test("is an acknowledge message with sequence 0, flags SYN|FIN and payload type 0", () => {
    expect([ack.messageType, ack.sequenceNumber, ack.flags, ack.payloadType, ack.messageId, ack.createdDate]).toEqual([
      "acknowledge",
      0,
      3n,
      0,
      ACK_ID,
      1_700_000_000_500,
    ]);
  });

  test("carries compact JSON naming the acked message's type, id and sequence number", () => {
    expect(new TextDecoder().decode(ack.payload)).toBe(
      '{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"dd01e56b-ff48-483e-a508-b5f073f31b16","AcknowledgedMessageSequenceNumber":42,"IsSequentialMessage":true}',
    );
  });

  test("survives an encode/decode round trip and parses back to the acked message", () => {
    const parsed = parseAcknowledge(decodeClientMessage(encodeClientMessage(ack)).payload);
    expect(parsed).toEqual({
      acknowledgedMessageType: "output_stream_data",
      acknowledgedMessageId: ACKED.messageId,
      acknowledgedMessageSequenceNumber: 42,
      isSequentialMessage: true,
    });
  });
});

describe("parseAcknowledge()", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);

  test("needs only the sequence number, since acks are matched by it alone", () => {
    expect(parseAcknowledge(bytes('{"AcknowledgedMessageSequenceNumber":7}')).acknowledgedMessageSequenceNumber).toBe(7);
  });

  test.each([
    ["not JSON", "ack"],
    ["a JSON array", "[7]"],
    ["no sequence number", '{"AcknowledgedMessageType":"input_stream_data"}'],
    ["a string sequence number", '{"AcknowledgedMessageSequenceNumber":"7"}'],
    ["a fractional sequence number", '{"AcknowledgedMessageSequenceNumber":7.5}'],
    ["a non-string message id", '{"AcknowledgedMessageSequenceNumber":7,"AcknowledgedMessageId":5}'],
  ])("refuses %s with a typed error", (_name, text) => {
    expect(() => parseAcknowledge(bytes(text))).toThrow(expect.objectContaining({ code: "E_SSM_PROTOCOL" }));
  });

  test("refuses bytes that are not UTF-8", () => {
    expect(() => parseAcknowledge(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(expect.objectContaining({ code: "E_SSM_PROTOCOL" }));
  });
});
