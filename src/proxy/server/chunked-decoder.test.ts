import { describe, expect, test } from "bun:test";
import { ChunkedDecoder } from "./chunked-decoder.ts";

function decodeInPieces(text: string, size: number) {
  const decoder = new ChunkedDecoder();
  const bytes = Buffer.from(text, "latin1");
  let body = "";
  for (let i = 0; i < bytes.length; i += size) {
    const out = decoder.feed(bytes.subarray(i, i + size));
    if ("error" in out) return out;
    body += Buffer.concat(out.data).toString("latin1");
    if (out.done) return { body, done: true, extra: out.extra || i + size < bytes.length };
  }
  return { body, done: false };
}

describe("ChunkedDecoder", () => {
  const wire = "4\r\nWiki\r\n5;name=value\r\npedia\r\nA \t; x\r\n in chunks\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (const size of [1, 2, 3, 7, 1000]) {
    test(`decodes a body split every ${size} bytes, extensions and trailers included`, () => {
      expect(decodeInPieces(wire, size)).toEqual({ body: "Wikipedia in chunks", done: true, extra: false });
    });
  }

  test("says when bytes follow the last chunk", () => {
    expect(decodeInPieces("1\r\na\r\n0\r\n\r\nHTTP/1.1 200 OK", 1000)).toEqual({ body: "a", done: true, extra: true });
  });

  test("waits for more until the trailers are over", () => {
    expect(decodeInPieces("1\r\na\r\n0\r\n", 1000)).toEqual({ body: "a", done: false });
  });

  const hostile: [string, string][] = [
    ["a bare LF after the size", "4\nWiki\r\n0\r\n\r\n"],
    ["a bare CR in the size line", "4\r5\r\nWiki\r\n0\r\n\r\n"],
    ["a size that is not hex", "g\r\nWiki\r\n0\r\n\r\n"],
    ["a signed size", "+4\r\nWiki\r\n0\r\n\r\n"],
    ["a space before the size", " 4\r\nWiki\r\n0\r\n\r\n"],
    ["a 0x prefix", "0x4\r\nWiki\r\n0\r\n\r\n"],
    ["an empty size line", "\r\nWiki\r\n0\r\n\r\n"],
    ["a size of 16 hex digits", "1000000000000000\r\nWiki\r\n"],
    ["data longer than its size", "3\r\nWiki\r\n0\r\n\r\n"],
    ["data followed by LF only", "4\r\nWiki\n0\r\n\r\n"],
    ["a folded trailer", "0\r\nX-A: 1\r\n folded\r\n\r\n"],
    ["a trailer without a colon", "0\r\nnonsense\r\n\r\n"],
    ["a size line past 4 KiB", `4;${"x".repeat(5000)}\r\nWiki\r\n0\r\n\r\n`],
  ];
  for (const [name, text] of hostile) {
    for (const size of [1, 1000]) test(`refuses ${name} (pieces of ${size})`, () => expect(decodeInPieces(text, size)).toHaveProperty("error"));
  }
});
