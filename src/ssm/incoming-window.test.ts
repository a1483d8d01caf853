import { describe, expect, test } from "bun:test";
import { parseAcknowledge } from "./acknowledge.ts";
import type { ClientMessage } from "./client-message.ts";
import { IncomingWindow, type IncomingResult } from "./incoming-window.ts";
import { MessageType, PayloadType } from "./message-types.ts";

const T0 = 1_700_000_000_000;

function message(sequenceNumber: number, size = 4): ClientMessage {
  return {
    messageType: MessageType.OutputStreamData,
    schemaVersion: 1,
    createdDate: T0,
    sequenceNumber,
    flags: 0n,
    messageId: `00000000-0000-4000-8000-${sequenceNumber.toString(16).padStart(12, "0")}`,
    payloadType: PayloadType.Output,
    payload: new Uint8Array(size).fill(sequenceNumber & 0xff),
  };
}

/** Delivered and acked sequence numbers of one receive. */
function numbers(result: IncomingResult): { deliver: number[]; ack: number[] } {
  return {
    deliver: result.deliver.map((m) => m.sequenceNumber),
    ack: result.ack.map((a) => parseAcknowledge(a.payload).acknowledgedMessageSequenceNumber),
  };
}

describe("IncomingWindow", () => {
  test("delivers in-order messages at once and acks each", () => {
    const incoming = new IncomingWindow();
    expect([0, 1, 2].map((seq) => numbers(incoming.receive(message(seq), T0)))).toEqual([
      { deliver: [0], ack: [0] },
      { deliver: [1], ack: [1] },
      { deliver: [2], ack: [2] },
    ]);
    expect(incoming.expectedSequenceNumber).toBe(3);
  });

  test("acks an early message at once but holds it until the gap before it is filled", () => {
    const incoming = new IncomingWindow();
    expect(numbers(incoming.receive(message(2), T0))).toEqual({ deliver: [], ack: [2] });
    expect(numbers(incoming.receive(message(1), T0))).toEqual({ deliver: [], ack: [1] });
    expect(numbers(incoming.receive(message(0), T0))).toEqual({ deliver: [0, 1, 2], ack: [0] });
    expect(incoming.stats()).toMatchObject({ expectedSequenceNumber: 3, bufferedMessages: 0, bufferedBytes: 0 });
  });

  test("re-acks a duplicate of a delivered message and does not deliver it again", () => {
    const incoming = new IncomingWindow();
    incoming.receive(message(0), T0);
    expect(numbers(incoming.receive(message(0), T0))).toEqual({ deliver: [], ack: [0] });
    expect(incoming.stats().duplicates).toBe(1);
  });

  test("re-acks a duplicate of a buffered message and delivers it only once", () => {
    const incoming = new IncomingWindow();
    incoming.receive(message(1), T0);
    expect(numbers(incoming.receive(message(1), T0))).toEqual({ deliver: [], ack: [1] });
    expect(numbers(incoming.receive(message(0), T0))).toEqual({ deliver: [0, 1], ack: [0] });
  });

  test("drops a message too far ahead without acking it, so the sender resends it later", () => {
    const incoming = new IncomingWindow({ maxBufferedMessages: 3 });
    expect(numbers(incoming.receive(message(2), T0))).toEqual({ deliver: [], ack: [2] });
    expect(numbers(incoming.receive(message(3), T0))).toEqual({ deliver: [], ack: [] });
    expect(incoming.stats().dropped).toBe(1);
  });

  test("drops an early message that would exceed the buffered-bytes bound, unacked", () => {
    const incoming = new IncomingWindow({ maxBufferedBytes: 10 });
    incoming.receive(message(1, 6), T0);
    expect(numbers(incoming.receive(message(2, 6), T0))).toEqual({ deliver: [], ack: [] });
    expect(numbers(incoming.receive(message(0, 6), T0))).toEqual({ deliver: [0, 1], ack: [0] });
  });

  test("an ack names the acked message's type and id and is stamped with now", () => {
    const [ack] = new IncomingWindow({ newMessageId: () => "11111111-2222-4333-8444-555555555555" }).receive(message(0), T0 + 7).ack;
    expect(ack).toMatchObject({ messageType: "acknowledge", createdDate: T0 + 7, messageId: "11111111-2222-4333-8444-555555555555" });
    expect(parseAcknowledge(ack!.payload)).toMatchObject({ acknowledgedMessageType: "output_stream_data", acknowledgedMessageId: message(0).messageId });
  });
});
