import { describe, expect, test } from "bun:test";
import { echoMethodRefusal, headerValue, parseProxyRequestHead, type ProxyRequestHead } from "./proxy-request-head.ts";

const ok = (head: string): ProxyRequestHead => {
  const parsed = parseProxyRequestHead(head);
  if (!("form" in parsed)) throw new Error(`refused: ${parsed.reason}`);
  return parsed;
};
const refusal = (head: string) => {
  const parsed = parseProxyRequestHead(head);
  if ("form" in parsed) throw new Error(`accepted: ${head}`);
  return parsed;
};

describe("the first request head on the proxy port", () => {
  test("a CONNECT names an authority, kept exactly as sent", () => {
    const head = ok("CONNECT Api.Example.invalid.:443 HTTP/1.1\r\nHost: Api.Example.invalid.:443\r\nProxy-Authorization: Basic eDp5");
    expect(head).toMatchObject({ method: "CONNECT", target: "Api.Example.invalid.:443", form: "authority", version: "1.1" });
    expect(headerValue(head, "proxy-authorization")).toBe("Basic eDp5");
  });
  test("a plain proxy request is absolute-form and a request to the proxy itself origin-form", () => {
    expect(ok("GET http://a.invalid/x?y=1 HTTP/1.1\r\nHost: a.invalid").form).toBe("absolute");
    expect(ok("GET /_credproxy/health HTTP/1.0").form).toBe("origin");
  });
  test("CONNECT with a scheme, path or userinfo is a bad authority", () => {
    for (const target of ["http://a.invalid:443", "a.invalid:443/x", "u:p@a.invalid:443", "/x"]) {
      expect(refusal(`CONNECT ${target} HTTP/1.1`).code).toBe("bad-authority");
    }
  });
  test("an https:// absolute URI is told to use CONNECT", () => {
    expect(refusal("GET https://a.invalid/ HTTP/1.1").code).toBe("use-connect");
  });
  test("TRACE and TRACK are refused with 405, any case", () => {
    for (const method of ["TRACE", "TRACK", "trace"]) expect(refusal(`${method} http://a.invalid/ HTTP/1.1`).status).toBe(405);
  });
  test("only HTTP/1.0 and 1.1 are spoken", () => {
    expect(refusal("GET http://a.invalid/ HTTP/2.0").status).toBe(505);
    expect(refusal("GET http://a.invalid/ HTTP/1.2").status).toBe(505);
  });
  test("heads that another parser could read differently are refused", () => {
    const cases = [
      "GET http://a.invalid/ HTTP/1.1\r\nHost: a.invalid\r\nHost: b.invalid",
      "POST http://a.invalid/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked",
      "POST http://a.invalid/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6",
      "POST http://a.invalid/ HTTP/1.1\r\nContent-Length: 5, 6",
      "POST http://a.invalid/ HTTP/1.1\r\nContent-Length: -1",
      "POST http://a.invalid/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip",
      "GET http://a.invalid/ HTTP/1.1\r\nX-A: 1\r\n folded",
      "GET http://a.invalid/ HTTP/1.1\r\nX-A : 1",
      "GET http://a.invalid/ HTTP/1.1\r\nX-A: 1\nHost: b.invalid",
      "GET http://a.invalid/ HTTP/1.1\r\nX-A: a\x00b",
      "GET  http://a.invalid/ HTTP/1.1",
    ];
    for (const head of cases) expect(refusal(head).status).toBe(400);
  });
  test("the same Content-Length twice is one length", () => {
    expect(ok("POST http://a.invalid/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5").form).toBe("absolute");
  });
  test("TRACE and TRACK are echo methods in any case; other methods are not", () => {
    for (const method of ["TRACE", "trace", "TRACK", "Track"]) expect(echoMethodRefusal(method)).toMatchObject({ status: 405, code: "method-not-allowed" });
    for (const method of ["GET", "POST", "OPTIONS", "TRACES"]) expect(echoMethodRefusal(method)).toBeUndefined();
  });
});
