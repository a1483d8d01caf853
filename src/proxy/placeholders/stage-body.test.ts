import { describe, expect, test } from "bun:test";
import { PassThrough, Readable } from "node:stream";
import { stageBody } from "./stage-body.ts";
import { windowTransform } from "./window-matcher.ts";

const rewritten = (chunks: string[]) => Readable.from(chunks.map((c) => Buffer.from(c))).pipe(windowTransform([{ from: Buffer.from("cpx_1"), to: Buffer.from("REAL") }, { from: Buffer.from("cpx_2"), to: undefined, reason: "not-here" }]));

describe("stageBody", () => {
  test("a body within the bound is read whole, rewritten", async () => {
    expect(await stageBody(rewritten(["a cp", "x_1 b"]), 100)).toEqual({ kind: "whole", body: Buffer.from("a REAL b") });
  });

  test("a forbidden placeholder within the bound is found before anything is sent", async () => {
    expect(await stageBody(rewritten(["a cp", "x_2 b"]), 100)).toEqual({ kind: "forbidden", reason: "not-here" });
  });

  test("past the bound it stops reading and hands over what it read and the rest", async () => {
    const staged = await stageBody(rewritten(["0123456789", "abcdefghij", "cpx_1 end"]), 15);
    expect(staged.kind).toBe("stream");
    if (staged.kind !== "stream") return;
    const rest: Buffer[] = [];
    for await (const chunk of staged.rest) rest.push(chunk as Buffer);
    expect(Buffer.concat([...staged.head, ...rest]).toString()).toBe("0123456789abcdefghijREAL end");
  });

  test("a body whose client went away is aborted", async () => {
    const body = new PassThrough();
    const staged = stageBody(body, 100);
    body.write("partial");
    body.destroy();
    expect(await staged).toEqual({ kind: "aborted" });
  });
});
