import { describe, expect, test } from "bun:test";
import { PassThrough, Readable } from "node:stream";
import { AS_IS, plannedFraming, scrubResponse } from "./placeholder-bodies.ts";

const own = [{ placeholder: "cpx_scrub_placeholder_01", real: "sk-live-real-value" }];
/** scrubResponse's answer when it did not fail. */
const ok = <T,>(value: T | "failed"): T => {
  if (value === "failed") throw new Error("scrubResponse failed");
  return value;
};
const read = async (body: Readable) => {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(part as Buffer);
  return Buffer.concat(parts).toString();
};

describe("plannedFraming", () => {
  test("a whole body gets its exact length; a resized stream goes without one; as-is keeps both", () => {
    expect(plannedFraming({ kind: "whole", body: Buffer.from("12345") }, { "content-length": "3", a: "b" }, 3)).toEqual({ headers: { "content-length": "5", a: "b" }, bodyLength: 5 });
    expect(plannedFraming({ kind: "whole", body: Buffer.alloc(0) }, { a: "b" }, undefined)).toEqual({ headers: { a: "b" }, bodyLength: 0 });
    const stream = { kind: "stream", head: [], rest: new PassThrough() } as const;
    expect(plannedFraming({ ...stream, resized: true }, { "content-length": "9", a: "b" }, 9)).toEqual({ headers: { a: "b", "transfer-encoding": "chunked" }, bodyLength: undefined });
    expect(plannedFraming({ ...stream, resized: false }, { "content-length": "9" }, 9)).toEqual({ headers: { "content-length": "9" }, bodyLength: 9 });
    expect(plannedFraming(AS_IS, { x: "y" }, 4)).toEqual({ headers: { x: "y" }, bodyLength: 4 });
  });
});

describe("scrubResponse", () => {
  test("a JSON body with a length: the real value becomes the placeholder and the length follows", async () => {
    const body = JSON.stringify({ token: own[0]!.real });
    const out = ok(await scrubResponse(own, "GET", 200, [["content-type", "application/json"], ["content-length", String(body.length)], ["location", `https://x/?t=${own[0]!.real}`]], Readable.from([Buffer.from(body)])));
    const text = await read(out.body);
    expect(text).toBe(JSON.stringify({ token: own[0]!.placeholder }));
    expect(out.head).toContainEqual(["content-length", String(text.length)]);
    expect(out.head).toContainEqual(["location", `https://x/?t=${own[0]!.placeholder}`]);
  });

  test("a body without a length streams scrubbed; a compressed or binary body and a HEAD pass untouched (headers still scrubbed)", async () => {
    const streamed = ok(await scrubResponse(own, "GET", 200, [["content-type", "text/event-stream"]], Readable.from([Buffer.from("data: sk-live-"), Buffer.from("real-value\n\n")])));
    expect(await read(streamed.body)).toBe(`data: ${own[0]!.placeholder}\n\n`);
    for (const [method, head] of [["GET", [["content-type", "application/json"], ["content-encoding", "gzip"]]], ["GET", [["content-type", "image/png"]]], ["HEAD", [["content-type", "text/plain"], ["x-t", own[0]!.real]]]] as const) {
      const body = Readable.from([Buffer.from("raw")]);
      const out = ok(await scrubResponse(own, method, 200, head.map(([n, v]) => [n, v]), body));
      expect(out.body).toBe(body);
      expect(JSON.stringify(out.head)).not.toContain(own[0]!.real);
    }
  });

  test("an upstream that fails while its body is read says so", async () => {
    const body = new PassThrough();
    const out = scrubResponse(own, "GET", 200, [["content-type", "text/plain"], ["content-length", "100"]], body);
    body.write("partial");
    body.destroy(new Error("reset"));
    expect(await out).toBe("failed");
  });
});
