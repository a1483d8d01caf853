import { describe, expect, test } from "bun:test";
import { Readable } from "node:stream";
import { ForbiddenPattern, replaceAll, WindowMatcher, windowTransform, type Pattern } from "./window-matcher.ts";

const swap = (from: string, to: string): Pattern => ({ from: Buffer.from(from), to: Buffer.from(to) });
const forbid = (from: string): Pattern => ({ from: Buffer.from(from), to: undefined });

/** The text fed `size` bytes at a time; each step's output recorded, so tests can see what was held. */
function run(text: string, patterns: Pattern[], size: number): { out: string; steps: string[] } | { forbidden: string } {
  const matcher = new WindowMatcher(patterns);
  const bytes = Buffer.from(text);
  const steps: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const step = matcher.push(bytes.subarray(i, i + size));
    if ("forbidden" in step) return { forbidden: step.forbidden.from.toString() };
    steps.push(step.out);
  }
  const last = matcher.end();
  if ("forbidden" in last) return { forbidden: last.forbidden.from.toString() };
  steps.push(last.out);
  return { out: Buffer.concat(steps).toString(), steps: steps.map(String) };
}

const out = (text: string, patterns: Pattern[], size: number) => {
  const r = run(text, patterns, size);
  return "out" in r ? r.out : r;
};

describe("WindowMatcher", () => {
  const body = '{"key":"cpx_0123456789abcdef","again":"cpx_0123456789abcdef"}';
  const expected = '{"key":"sk-real-value","again":"sk-real-value"}';
  for (const size of [1, 2, 3, 5, 19, 20, 21, 1000]) {
    test(`finds a placeholder split across chunks of ${size} bytes`, () => {
      expect(out(body, [swap("cpx_0123456789abcdef", "sk-real-value")], size)).toBe(expected);
    });
  }

  test("holds back only bytes that could still begin a pattern, and no more than its length − 1", () => {
    const r = run("hello cpx_01 world", [swap("cpx_0123", "X")], 1);
    expect("out" in r && r.out).toBe("hello cpx_01 world");
    // Each byte that cannot begin the pattern leaves in the step it arrived in.
    expect("steps" in r && r.steps.slice(0, 6)).toEqual(["h", "e", "l", "l", "o", " "]);
    const matcher = new WindowMatcher([swap("cpx_0123", "X")]);
    expect(matcher.window).toBe(7);
    expect((matcher.push(Buffer.from("abc cpx_012")) as { out: Buffer }).out.toString()).toBe("abc ");
    // The held "cpx_012" turns out not to be the pattern: all of it leaves with the next byte.
    expect((matcher.push(Buffer.from("9")) as { out: Buffer }).out.toString()).toBe("cpx_0129");
  });

  test("a prefix of a placeholder at the end of the stream leaves unchanged when it ends", () => {
    for (const size of [1, 4, 100]) expect(out("trailing cpx_01", [swap("cpx_0123", "X")], size)).toBe("trailing cpx_01");
    const matcher = new WindowMatcher([swap("cpx_0123", "X")]);
    expect((matcher.push(Buffer.from("cpx_")) as { out: Buffer }).out.length).toBe(0);
    expect((matcher.end() as { out: Buffer }).out.toString()).toBe("cpx_");
  });

  test("adjacent placeholders are each replaced", () => {
    for (const size of [1, 3, 100]) expect(out("cpx_AAAAcpx_BBBBcpx_AAAA", [swap("cpx_AAAA", "1"), swap("cpx_BBBB", "22")], size)).toBe("1221");
  });

  test("overlapping patterns: the one that starts first wins, then the longest at the same start", () => {
    for (const size of [1, 2, 100]) {
      expect(out("xabcdx", [swap("abc", "1"), swap("bcd", "2")], size)).toBe("x1dx");
      expect(out("xabcdx", [swap("abc", "1"), swap("abcd", "2")], size)).toBe("x2x");
      // The longer one does not complete: the shorter, held while it could, is replaced.
      expect(out("xabcx", [swap("abc", "1"), swap("abcd", "2")], size)).toBe("x1x");
      expect(out("xabc", [swap("abc", "1"), swap("abcd", "2")], size)).toBe("x1");
    }
  });

  test("a self-overlapping start does not hide a later match", () => {
    for (const size of [1, 2, 100]) expect(out("aaab", [swap("aab", "X")], size)).toBe("aX");
  });

  test("a replacement is not searched again", () => {
    expect(out("cpx_1", [swap("cpx_1", "cpx_1cpx_1")], 1)).toBe("cpx_1cpx_1");
  });

  test("a forbidden pattern stops the stream, even split one byte per chunk", () => {
    for (const size of [1, 7, 100]) expect(run("ok then cpx_other tail", [swap("cpx_mine", "x"), forbid("cpx_other")], size)).toEqual({ forbidden: "cpx_other" });
    expect(run("cpx_mine only", [swap("cpx_mine", "real"), forbid("cpx_other")], 1)).toEqual({ out: "real only", steps: expect.any(Array) });
  });

  test("no patterns: every chunk passes as it is", () => {
    const matcher = new WindowMatcher([]);
    const chunk = Buffer.from("anything");
    const passed = (matcher.push(chunk) as { out: Buffer }).out;
    expect(passed.equals(chunk) && passed.buffer === chunk.buffer).toBe(true); // not copied
  });

  test("multi-byte UTF-8 values are matched as bytes", () => {
    for (const size of [1, 100]) expect(out("é→cpx_ü←", [swap("cpx_ü", "ñ")], size)).toBe("é→ñ←");
  });
});

describe("windowTransform", () => {
  const collect = async (chunks: string[], patterns: Pattern[]) => {
    const parts: Buffer[] = [];
    for await (const part of Readable.from(chunks.map((c) => Buffer.from(c))).pipe(windowTransform(patterns))) parts.push(part as Buffer);
    return Buffer.concat(parts).toString();
  };

  test("replaces across chunk boundaries and flushes the held tail at the end", async () => {
    expect(await collect(["a cpx", "_12", "34 b cp"], [swap("cpx_1234", "REAL")])).toBe("a REAL b cp");
  });

  test("fails with ForbiddenPattern on a forbidden pattern", async () => {
    await expect(collect(["a cpx_", "bad b"], [forbid("cpx_bad")])).rejects.toBeInstanceOf(ForbiddenPattern);
  });
});

describe("replaceAll", () => {
  test("replaces in a whole value, or says a forbidden pattern is in it", () => {
    expect(replaceAll(Buffer.from("Bearer cpx_1"), [swap("cpx_1", "real")])?.toString()).toBe("Bearer real");
    expect(replaceAll(Buffer.from("x cpx_2"), [forbid("cpx_2")])).toBeUndefined();
  });
});
