import { describe, expect, test } from "bun:test";
import { CredproxyError } from "../../errors.ts";
import { encodeSmuxData, encodeSmuxFrame, SMUX_HEADER_BYTES, SMUX_MAX_FRAME_BODY, SmuxCmd, SmuxFrameDecoder } from "./smux-frame.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

describe("smux v1 frames", () => {
  test("a PSH header is version 1, cmd, length LE, stream id LE, then the body", () => {
    expect(encodeSmuxFrame(SmuxCmd.PSH, 3, bytes(0xaa, 0xbb))).toEqual(bytes(1, 2, 2, 0, 3, 0, 0, 0, 0xaa, 0xbb));
    expect(encodeSmuxFrame(SmuxCmd.SYN, 0x01020304)).toEqual(bytes(1, 0, 0, 0, 4, 3, 2, 1));
  });

  test("only PSH carries a body", () => {
    expect(() => encodeSmuxFrame(SmuxCmd.FIN, 3, bytes(1))).toThrow(/carries no body/);
  });

  test("data is split into frames of at most 32 KiB, and none for no data", () => {
    const data = new Uint8Array(SMUX_MAX_FRAME_BODY * 2 + 5).map((_, i) => i % 251);
    const out = encodeSmuxData(3, data);
    expect(out.length).toBe(data.length + 3 * SMUX_HEADER_BYTES);
    const frames = new SmuxFrameDecoder().push(out);
    expect(frames.map((f) => f.body.length)).toEqual([SMUX_MAX_FRAME_BODY, SMUX_MAX_FRAME_BODY, 5]);
    expect(Buffer.concat(frames.map((f) => f.body))).toEqual(Buffer.from(data));
    expect(encodeSmuxData(3, new Uint8Array(0)).length).toBe(0);
  });

  test("the decoder takes frames cut anywhere, one byte at a time included", () => {
    const stream = Buffer.concat([encodeSmuxFrame(SmuxCmd.SYN, 3), encodeSmuxFrame(SmuxCmd.PSH, 3, bytes(7, 8, 9)), encodeSmuxFrame(SmuxCmd.NOP, 0), encodeSmuxFrame(SmuxCmd.FIN, 3)]);
    const decoder = new SmuxFrameDecoder();
    const frames = [...stream].flatMap((b) => decoder.push(bytes(b)));
    expect(frames.map((f) => [f.cmd, f.streamId, [...f.body]])).toEqual([[0, 3, []], [2, 3, [7, 8, 9]], [3, 0, []], [1, 3, []]]);
    expect(decoder.pendingBytes).toBe(0);
  });

  test("a body of the full u16 length is accepted", () => {
    const big = new Uint8Array(0xffff);
    const [frame] = new SmuxFrameDecoder().push(encodeSmuxFrame(SmuxCmd.PSH, 5, big));
    expect(frame!.body.length).toBe(0xffff);
  });
});

describe("hostile smux frames", () => {
  const rejects = (frame: Uint8Array, pattern: RegExp) => {
    const decoder = new SmuxFrameDecoder();
    let caught: unknown;
    try {
      decoder.push(frame);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CredproxyError);
    expect((caught as Error).message).toMatch(pattern);
    // The stream cannot be re-synchronised: the decoder stays failed.
    expect(() => decoder.push(encodeSmuxFrame(SmuxCmd.NOP, 0))).toThrow(pattern);
  };

  test("version 2 (or any other) is refused", () => rejects(bytes(2, 2, 0, 0, 3, 0, 0, 0), /version 2, expected 1/));
  test("cmd 4 (v2's window update) and above are unknown", () => {
    rejects(bytes(1, 4, 8, 0, 3, 0, 0, 0), /unknown smux v1 command 4/);
    rejects(bytes(1, 0xff, 0, 0, 3, 0, 0, 0), /unknown smux v1 command 255/);
  });
  test("a SYN, FIN or NOP with a length is refused (the length would desync the stream)", () => {
    rejects(bytes(1, 0, 1, 0, 3, 0, 0, 0, 0), /command 0 with a 1-byte body/);
    rejects(bytes(1, 3, 0xff, 0xff, 0, 0, 0, 0), /command 3 with a 65535-byte body/);
  });
  test("a partial header or body is held, not guessed at", () => {
    const decoder = new SmuxFrameDecoder();
    expect(decoder.push(bytes(1, 2, 10, 0, 3, 0, 0))).toEqual([]);
    expect(decoder.push(bytes(0, 1, 2))).toEqual([]);
    expect(decoder.pendingBytes).toBe(10);
  });
});
