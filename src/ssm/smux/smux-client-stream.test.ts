import { describe, expect, test } from "bun:test";
import { SmuxClientStream } from "./smux-client-stream.ts";
import { encodeSmuxFrame, SmuxCmd } from "./smux-frame.ts";

const bytes = (...values: number[]) => new Uint8Array(values);
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe("the one smux client stream", () => {
  test("opens with SYN on stream 3, the plugin's first id, writes PSH and closes with FIN", () => {
    const stream = new SmuxClientStream();
    expect(stream.open()).toEqual(bytes(1, 0, 0, 0, 3, 0, 0, 0));
    expect(stream.write(bytes(0x41))).toEqual(bytes(1, 2, 1, 0, 3, 0, 0, 0, 0x41));
    expect(stream.close()).toEqual(bytes(1, 1, 0, 0, 3, 0, 0, 0));
  });

  test("delivers PSH bodies for its stream in order, ignores NOPs and other streams", () => {
    const stream = new SmuxClientStream();
    const got = stream.receive(
      concat(encodeSmuxFrame(SmuxCmd.PSH, 3, bytes(1, 2)), encodeSmuxFrame(SmuxCmd.NOP, 0), encodeSmuxFrame(SmuxCmd.PSH, 5, bytes(9)), encodeSmuxFrame(SmuxCmd.PSH, 3, bytes(3))),
    );
    expect(got.data.map((d) => [...d])).toEqual([[1, 2], [3]]);
    expect(got.finished).toBe(false);
    expect(stream.stats).toEqual({ ignoredFrames: 1, nops: 1 });
  });

  test("a SYN from the agent opens nothing; FIN ends the stream and later data is ignored", () => {
    const stream = new SmuxClientStream();
    expect(stream.receive(encodeSmuxFrame(SmuxCmd.SYN, 2)).data).toEqual([]);
    const got = stream.receive(concat(encodeSmuxFrame(SmuxCmd.FIN, 3), encodeSmuxFrame(SmuxCmd.PSH, 3, bytes(1))));
    expect(got).toEqual({ data: [], finished: true });
    expect(stream.stats.ignoredFrames).toBe(2);
  });

  test("a malformed frame from the agent throws a protocol error", () => {
    expect(() => new SmuxClientStream().receive(bytes(1, 9, 0, 0, 3, 0, 0, 0))).toThrow(/unknown smux v1 command 9/);
  });
});
