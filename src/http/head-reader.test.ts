import { describe, expect, test } from "bun:test";
import { HeadReader, type NextHead } from "./head-reader.ts";

const MAX = 16 * 1024;

/** Pushes `chunks` one at a time, collecting every result `next` gives along the way. */
function read(chunks: readonly string[], max = MAX): NextHead[] {
  const reader = new HeadReader();
  const results: NextHead[] = [];
  for (const chunk of chunks) {
    reader.push(Buffer.from(chunk, "latin1"));
    for (let next = reader.next(max); next !== undefined; next = reader.next(max)) {
      results.push(next);
      if ("error" in next) return results;
    }
  }
  return results;
}

const PIPELINE = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nX: y\r\n\r\n";
const HEADS = [{ head: "GET /a HTTP/1.1\r\nHost: x" }, { head: "\r\nGET /b HTTP/1.1" }, { head: "GET /c HTTP/1.1\r\nX: y" }];

describe("HeadReader", () => {
  test("pipelined heads come out one at a time, however the bytes are split", () => {
    expect(read([PIPELINE])).toEqual(HEADS);
    expect(read([...PIPELINE])).toEqual(HEADS);
    expect(read([PIPELINE.slice(0, 30), PIPELINE.slice(30, 31), PIPELINE.slice(31)])).toEqual(HEADS);
  });

  test("keeps what follows a head, and how much it holds", () => {
    const reader = new HeadReader();
    reader.push(Buffer.from("GET / HTTP/1.1\r\n\r\nGET /next", "latin1"));
    expect(reader.next(MAX)).toEqual({ head: "GET / HTTP/1.1" });
    expect(reader.size).toBe("GET /next".length);
    expect(reader.next(MAX)).toBeUndefined();
    reader.push(Buffer.from(" HTTP/1.1\r\n\r\n", "latin1"));
    expect(reader.next(MAX)).toEqual({ head: "GET /next HTTP/1.1" });
    expect(reader.size).toBe(0);
  });

  test("an empty line first is an empty head, as it was for a search for CRLF CRLF", () => {
    expect(read(["\r\n\r\nGET / HTTP/1.1\r\n\r\n"])).toEqual([{ head: "" }, { head: "GET / HTTP/1.1" }]);
  });

  test("a LF without a CR before it is refused, at the start of a head or inside it", () => {
    expect(read(["GET / HTTP/1.1\nHost: x\n\n"])).toEqual([{ error: "bare LF" }]);
    expect(read(["GET / HTTP/1.1\r\n\r\n", "\nGET / HTTP/1.1\r\n\r\n"])).toEqual([{ head: "GET / HTTP/1.1" }, { error: "bare LF" }]);
    expect(read(["GET / HTTP/1.1\r\nX: a\r\r\n\r\n"])).toEqual([{ head: "GET / HTTP/1.1\r\nX: a\r" }]);
  });

  test("a head over `max` bytes is too large, whether or not its end has arrived", () => {
    const at = (bytes: number) => `GET / HTTP/1.1\r\nX: ${"a".repeat(bytes - 19)}`;
    expect(at(100).length).toBe(100);
    expect(read([`${at(100)}\r\n\r\n`], 100)).toEqual([{ head: at(100) }]);
    expect(read([`${at(101)}\r\n\r\n`], 100)).toEqual([{ error: "too large" }]);
    expect(read([at(100)], 100)).toEqual([]);
    expect(read([at(101)], 100)).toEqual([{ error: "too large" }]);
  });

  test("bytes held across many small pushes and partial reads stay in order", () => {
    const reader = new HeadReader();
    const heads: string[] = [];
    for (let i = 0; i < 2000; i++) {
      for (const piece of [`GET /${i} HTTP/1.1\r\nX-Pad: ${"p".repeat(i % 97)}`, "\r\n\r", "\n"]) {
        reader.push(Buffer.from(piece, "latin1"));
        if (i % 3 !== 0) for (let next = reader.next(MAX); next !== undefined && "head" in next; next = reader.next(MAX)) heads.push(next.head);
      }
    }
    for (let next = reader.next(MAX); next !== undefined && "head" in next; next = reader.next(MAX)) heads.push(next.head);
    expect(heads.length).toBe(2000);
    expect(heads.every((head, i) => head === `GET /${i} HTTP/1.1\r\nX-Pad: ${"p".repeat(i % 97)}`)).toBe(true);
  });
});
