import { describe, expect, test } from "bun:test";
import { encodeFrame, encodeHelloAck, encodeRawFrame, FrameDecoder, FramingError, type Frame } from "../framing.ts";
import { MAX_DATA_BYTES, OpenFailReason, StreamFrameType, type StreamFrame } from "./stream-frames.ts";

/** A decoder (on the agent) past a client's HELLO_ACK, so stream frames may follow. */
function agentDecoder(): FrameDecoder {
  const decoder = new FrameDecoder({ from: "client" });
  const ack = encodeHelloAck({
    version: { major: 1, minor: 0 },
    capabilities: 2,
    clientId: new Uint8Array(16),
    stripeIndex: 0,
    stripeCount: 1,
    hostname: "laptop",
    clientVersion: "0.1.0",
    cidrs: [],
  });
  expect(decoder.push(ack)).toHaveLength(1);
  return decoder;
}

function roundTrip(frame: StreamFrame): Frame {
  const frames = agentDecoder().push(encodeFrame(frame));
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

function refused(typeCode: number, body: number[] | Uint8Array): FramingError {
  const decoder = agentDecoder();
  try {
    decoder.push(encodeRawFrame(typeCode, Uint8Array.from(body)));
  } catch (error) {
    expect(error).toBeInstanceOf(FramingError);
    return error as FramingError;
  }
  throw new Error("the frame was accepted");
}

describe("stream frames", () => {
  test("every stream frame round-trips through the tunnel decoder", () => {
    const frames: StreamFrame[] = [
      { type: "open", streamId: 1, address: { kind: "ipv4", host: "10.1.2.3" }, port: 5432, window: 262144 },
      { type: "open", streamId: 3, address: { kind: "ipv6", host: "fd00::1" }, port: 443, window: 0 },
      { type: "open", streamId: 5, address: { kind: "name", host: "db.internal.corp" }, port: 80, window: 65536 },
      { type: "open_ok", streamId: 1, window: 1024 },
      { type: "open_fail", streamId: 7, reason: OpenFailReason.NotAllowed, text: "10.9.9.9 is outside --allow-cidr" },
      { type: "data", streamId: 1, bytes: Uint8Array.from([1, 2, 3]) },
      { type: "data", streamId: 1, bytes: new Uint8Array(MAX_DATA_BYTES).fill(7) },
      { type: "credit", streamId: 1, bytes: 65536 },
      { type: "stream_close", streamId: 1, kind: "end" },
      { type: "stream_close", streamId: 1, kind: "reset" },
    ];
    for (const frame of frames) expect(roundTrip(frame)).toEqual(frame);
  });

  test("a frame split byte by byte decodes the same", () => {
    const frame: StreamFrame = { type: "data", streamId: 9, bytes: new Uint8Array(5000).map((_, i) => i & 0xff) };
    const decoder = agentDecoder();
    const out: Frame[] = [];
    for (const byte of encodeFrame(frame)) out.push(...decoder.push(Uint8Array.of(byte)));
    expect(out).toEqual([frame]);
  });

  test("the encoder refuses what the wire cannot carry", () => {
    expect(() => encodeFrame({ type: "data", streamId: 1, bytes: new Uint8Array(0) })).toThrow(FramingError);
    expect(() => encodeFrame({ type: "data", streamId: 1, bytes: new Uint8Array(MAX_DATA_BYTES + 1) })).toThrow(/1\.\.16384/);
    expect(() => encodeFrame({ type: "open", streamId: 0, address: { kind: "ipv4", host: "10.0.0.1" }, port: 1, window: 1 })).toThrow(/stream id 0/);
    expect(() => encodeFrame({ type: "open", streamId: 1, address: { kind: "name", host: "a b" }, port: 1, window: 1 })).toThrow(/not a host name/);
    expect(() => encodeFrame({ type: "open", streamId: 1, address: { kind: "ipv6", host: "10.0.0.1" }, port: 1, window: 1 })).toThrow(/IPv6/);
    expect(() => encodeFrame({ type: "credit", streamId: 1, bytes: 0 })).toThrow(/credit 0/);
  });

  describe("hostile bodies are refused with a FramingError", () => {
    const id = [0, 0, 0, 1];
    const cases: [string, number, number[], RegExp][] = [
      ["stream id 0", StreamFrameType.Data, [0, 0, 0, 0, 1], /stream id 0/],
      ["a truncated id", StreamFrameType.Credit, [0, 1], /truncated/],
      ["OPEN to port 0", StreamFrameType.Open, [...id, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0], /port 0/],
      ["an unknown address kind", StreamFrameType.Open, [...id, 0, 80, 9, 10, 0, 0, 1, 0, 0, 0, 0], /address kind 9/],
      ["a name with a slash", StreamFrameType.Open, [...id, 0, 80, 3, 3, 0x61, 0x2f, 0x62, 0, 0, 0, 0], /not a host name/],
      ["an empty name", StreamFrameType.Open, [...id, 0, 80, 3, 0, 0, 0, 0, 0], /1\.\.255/],
      ["a window over 16 MiB", StreamFrameType.OpenOk, [...id, 0x01, 0, 0, 1], /window/],
      ["OPEN with trailing bytes", StreamFrameType.Open, [...id, 0, 80, 1, 10, 0, 0, 1, 0, 0, 0, 0, 99], /unexpected bytes/],
      ["DATA with no bytes", StreamFrameType.Data, id, /no bytes/],
      ["a credit of 0", StreamFrameType.Credit, [...id, 0, 0, 0, 0], /credit of 0/],
      ["a credit over 16 MiB", StreamFrameType.Credit, [...id, 0xff, 0xff, 0xff, 0xff], /credit of/],
      ["a close kind of 2", StreamFrameType.StreamClose, [...id, 2], /close kind 2/],
      ["OPEN_FAIL text that is not UTF-8", StreamFrameType.OpenFail, [...id, 1, 0xff, 0xfe], /UTF-8/],
    ];
    for (const [name, type, body, message] of cases) {
      test(name, () => expect(refused(type, body).message).toMatch(message));
    }

    test("a DATA header announcing more than 16 KiB is refused from the header alone", () => {
      const decoder = agentDecoder();
      const header = Uint8Array.of(0x50, 0x00, StreamFrameType.Data);
      expect(() => decoder.push(header)).toThrow(/over the 16388-byte limit/);
    });
  });
});
