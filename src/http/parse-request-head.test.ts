import { describe, expect, test } from "bun:test";
import { parseRequestHead } from "./parse-request-head.ts";

describe("parseRequestHead", () => {
  test("reads method, path without query, and keep-alive per HTTP version", () => {
    expect(parseRequestHead("GET /role-arn/a%2Fb?x=1 HTTP/1.1\r\nHost: x")).toEqual({ method: "GET", path: "/role-arn/a%2Fb", keepAlive: true });
    expect(parseRequestHead("GET / HTTP/1.1\r\nConnection: Close")).toMatchObject({ keepAlive: false });
    expect(parseRequestHead("GET / HTTP/1.0")).toMatchObject({ keepAlive: false });
    expect(parseRequestHead("GET / HTTP/1.0\r\nConnection: keep-alive")).toMatchObject({ keepAlive: true });
    expect(parseRequestHead("\r\nGET http://localhost/x?y HTTP/1.1")).toMatchObject({ path: "/x" });
  });

  test("refuses bodies, folded headers and malformed lines", () => {
    expect(parseRequestHead("GET / HTTP/1.1\r\nContent-Length: 0")).toMatchObject({ method: "GET" });
    expect(parseRequestHead("GET / HTTP/1.1\r\nContent-Length: 3")).toEqual({ error: "request bodies are not accepted" });
    expect(parseRequestHead("GET / HTTP/1.1\r\nX: a\r\n b")).toEqual({ error: "malformed header line" });
    expect(parseRequestHead("GET / HTTP/1.1\r\nX: a\r\n\tb")).toEqual({ error: "malformed header line" });
    expect(parseRequestHead("GET / HTTP/2.0")).toEqual({ error: "malformed request line" });
    expect(parseRequestHead("GET * HTTP/1.1")).toEqual({ error: "malformed request target" });
  });

  test("a field name is a token directly followed by ':'", () => {
    for (const line of ["Transfer-Encoding : chunked", "Transfer-Encoding\t: chunked", " X: a", "X Y: a", "(X): a", "X/Y: a", "X\"Y: a", ": a", "X", "Ä: a"]) {
      expect({ line, parsed: parseRequestHead(`GET / HTTP/1.1\r\n${line}`) }).toEqual({ line, parsed: { error: "malformed header line" } });
    }
    expect(parseRequestHead("GET / HTTP/1.1\r\nX-a_1.~!#$%&'*+^`|: v")).toMatchObject({ method: "GET" });
  });

  test("a header line holds no CR, LF, NUL or other control character but HTAB", () => {
    for (const line of ["X: a\rb", "X: a\nTransfer-Encoding: chunked", "X: a\0b", "X\0: a", "X: a\x01", "X: a\x7f", "X: a\r"]) {
      expect({ line, parsed: parseRequestHead(`GET / HTTP/1.1\r\n${line}`) }).toEqual({ line, parsed: { error: "malformed header line" } });
    }
    // OWS around the value (SP, HTAB) is not part of it; obs-text is allowed in a value.
    expect(parseRequestHead("GET / HTTP/1.1\r\nConnection:\t close \t\r\nX: caf\xe9\tau lait")).toMatchObject({ keepAlive: false });
    expect(parseRequestHead("GET / HTTP/1.1\r\nX:")).toMatchObject({ method: "GET" });
  });

  test("the request line holds single spaces and a target of visible ASCII only", () => {
    for (const line of ["GET /a b HTTP/1.1", "GET  / HTTP/1.1", "GET /a\tb HTTP/1.1", "GET /a\rb HTTP/1.1", "GET /a\nb HTTP/1.1", "GET / HTTP/1.1 "]) {
      expect({ line, parsed: parseRequestHead(line) }).toEqual({ line, parsed: { error: "malformed request line" } });
    }
    for (const line of ["GET /a\0b HTTP/1.1", "GET /a\x01b HTTP/1.1", "GET /a\x7f HTTP/1.1", "GET /caf\xe9 HTTP/1.1", "GET /\x85 HTTP/1.1"]) {
      expect({ line, parsed: parseRequestHead(line) }).toEqual({ line, parsed: { error: "malformed request target" } });
    }
  });
});
