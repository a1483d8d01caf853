import { describe, expect, test } from "bun:test";
import { decodeClientMessage } from "./client-message.ts";
import { MessageType, PayloadType } from "./message-types.ts";
import { OutgoingWindow, type OutgoingMessage, type PushResult } from "./outgoing-window.ts";

const T0 = 1_700_000_000_000;
const payload = (size = 10) => new Uint8Array(size).fill(0x61);
const seqs = (messages: readonly OutgoingMessage[]) => messages.map((m) => m.message.sequenceNumber);
const written = (result: PushResult) => (result.accepted ? seqs(result.write) : "refused");

let idCounter = 0;
function window(maxUnackedBytes = 1_000_000, messageType?: string): OutgoingWindow {
  const newMessageId = () => `00000000-0000-4000-8000-${(idCounter++).toString(16).padStart(12, "0")}`;
  return new OutgoingWindow({ maxUnackedBytes, newMessageId, ...(messageType === undefined ? {} : { messageType }) });
}

describe("OutgoingWindow sequencing", () => {
  test("numbers messages from 0, one per message, and hands each one back to write", () => {
    const out = window();
    expect([0, 1, 2].map(() => written(out.push(PayloadType.Output, payload(), T0)))).toEqual([[0], [1], [2]]);
    expect(out.stats().nextSequenceNumber).toBe(3);
  });

  test("writes input_stream_data frames that decode to the pushed payload", () => {
    const out = window();
    const result = out.push(PayloadType.HandshakeResponse, payload(3), T0);
    if (!result.accepted) throw new Error("refused");
    const decoded = decodeClientMessage(result.write[0]!.frame);
    expect([decoded.messageType, decoded.sequenceNumber, decoded.payloadType, decoded.createdDate, decoded.flags]).toEqual([
      MessageType.InputStreamData,
      0,
      PayloadType.HandshakeResponse,
      T0,
      0n,
    ]);
    expect(decoded.payload).toEqual(payload(3));
  });

  test("a fake agent's window writes output_stream_data", () => {
    const out = window(1000, MessageType.OutputStreamData);
    const result = out.push(PayloadType.Output, payload(), T0);
    expect(result.accepted && result.write[0]!.message.messageType).toBe("output_stream_data");
  });
});

describe("OutgoingWindow acks", () => {
  test("an ack removes its message and frees its bytes; a second ack for it is ignored", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    expect(out.stats().unackedBytes).toBe(130);
    expect(out.acknowledge(0, T0 + 20)).toBe(true);
    expect(out.acknowledge(0, T0 + 30)).toBe(false);
    expect(out.stats()).toMatchObject({ unackedMessages: 0, unackedBytes: 0 });
  });

  test("an ack for a number never sent is ignored", () => {
    expect(window().acknowledge(5, T0)).toBe(false);
  });

  test("an ack feeds the round trip since the last send into the RTO", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    out.acknowledge(0, T0 + 50);
    expect(out.stats()).toMatchObject({ srttMs: 93.75, rtoMs: 143.75 });
  });

  test("a message acked after a resend measures from the resend", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    out.due(T0 + 200);
    out.acknowledge(0, T0 + 250);
    expect(out.stats().srttMs).toBe(93.75);
  });
});

describe("OutgoingWindow resends", () => {
  test("nothing is due before the RTO runs out", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    expect(out.due(T0 + 199)).toEqual([]);
    expect(out.nextDueAt()).toBe(T0 + 200);
  });

  test("every message whose RTO ran out is due at once, not one per tick", () => {
    const out = window();
    for (let i = 0; i < 5; i++) out.push(PayloadType.Output, payload(), T0 + i);
    out.acknowledge(2, T0 + 10);
    const rto = out.stats().rtoMs;
    expect(seqs(out.due(T0 + 4 + rto))).toEqual([0, 1, 3, 4]);
    expect(out.stats().resends).toBe(4);
  });

  test("a resent message is due again one RTO after its resend", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    out.due(T0 + 200);
    expect(out.due(T0 + 399)).toEqual([]);
    expect(seqs(out.due(T0 + 400))).toEqual([0]);
  });

  test("a resend carries the same bytes as the first send", () => {
    const out = window();
    const first = out.push(PayloadType.Output, payload(), T0);
    expect(first.accepted && out.due(T0 + 200)[0]!.frame).toBe(first.accepted && first.write[0]!.frame);
  });

  test("nothing is due when everything is acked", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    out.acknowledge(0, T0 + 1);
    expect([out.due(T0 + 10_000), out.nextDueAt()]).toEqual([[], undefined]);
  });
});

describe("OutgoingWindow byte bound", () => {
  test("a message that would exceed the bound is refused without using a sequence number", () => {
    const out = window(300);
    expect(written(out.push(PayloadType.Output, payload(30), T0))).toEqual([0]);
    expect(written(out.push(PayloadType.Output, payload(31), T0))).toBe("refused");
    expect(written(out.push(PayloadType.Output, payload(30), T0))).toEqual([1]);
  });

  test("an ack makes room again", () => {
    const out = window(300);
    out.push(PayloadType.Output, payload(100), T0);
    expect(written(out.push(PayloadType.Output, payload(100), T0))).toBe("refused");
    out.acknowledge(0, T0 + 5);
    expect(written(out.push(PayloadType.Output, payload(100), T0 + 5))).toEqual([1]);
  });

  test("a control message that must not be dropped can go over the bound", () => {
    const out = window(150);
    out.push(PayloadType.Output, payload(30), T0);
    expect(written(out.push(PayloadType.Flag, payload(4), T0, { evenIfFull: true }))).toEqual([1]);
  });
});

describe("OutgoingWindow while paused", () => {
  test("new data is queued with a sequence number but not written", () => {
    const out = window();
    out.pause("socket");
    expect(written(out.push(PayloadType.Output, payload(), T0))).toEqual([]);
    expect(out.stats().unackedMessages).toBe(1);
  });

  test("the resend timer stops: nothing is due however long the socket stays down", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    out.pause("socket");
    expect([out.due(T0 + 60_000), out.nextDueAt()]).toEqual([[], undefined]);
    expect(out.stats().resends).toBe(0);
  });

  test("resuming writes everything unacked and queued, in order, once", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    out.push(PayloadType.Output, payload(), T0);
    out.acknowledge(0, T0 + 5);
    out.pause("socket");
    out.push(PayloadType.Output, payload(), T0 + 10);
    expect(seqs(out.resume("socket", T0 + 5000))).toEqual([1, 2]);
    expect(out.due(T0 + 5000)).toEqual([]);
    expect(out.nextDueAt()).toBe(T0 + 5000 + out.stats().rtoMs);
  });

  test("sending resumes only when both the socket and publication are back", () => {
    const out = window();
    out.pause("socket");
    out.pause("publication");
    out.push(PayloadType.Output, payload(), T0);
    expect(out.resume("socket", T0 + 1)).toEqual([]);
    expect(out.paused).toBe(true);
    expect(seqs(out.resume("publication", T0 + 2))).toEqual([0]);
    expect(out.paused).toBe(false);
  });

  test("resuming a reason that was never paused writes nothing", () => {
    const out = window();
    out.push(PayloadType.Output, payload(), T0);
    expect(out.resume("publication", T0 + 1)).toEqual([]);
  });
});
