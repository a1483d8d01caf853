import { describe, expect, test } from "bun:test";
import { authRequired, misdirected, refusalBytes, unparsableRequest, upstreamFailed } from "./refusal.ts";

function parse(raw: string) {
  const [head, body] = raw.split("\r\n\r\n") as [string, string];
  const [status, ...fields] = head.split("\r\n");
  return { status: status!, headers: new Map(fields.map((f) => [f.slice(0, f.indexOf(":")).toLowerCase(), f.slice(f.indexOf(":") + 2)])), body };
}

describe("the answers the proxy gives in place of an upstream's", () => {
  test("a missing token gets the Basic challenge git and curl answer", () => {
    const r = parse(refusalBytes(authRequired(false)));
    expect(r.status).toBe("HTTP/1.1 407 Proxy Authentication Required");
    expect(r.headers.get("proxy-authenticate")).toBe('Basic realm="credproxy"');
    expect(r.headers.get("x-credproxy-deny-reason")).toBe("proxy-token-required");
  });
  test("a wrong token is told apart from a missing one", () => {
    expect(parse(refusalBytes(authRequired(true))).headers.get("x-credproxy-deny-reason")).toBe("bad-proxy-token");
  });
  test("a misdirected request names both hosts", () => {
    const r = parse(refusalBytes(misdirected("Host header", "b.invalid:443", "a.invalid:443")));
    expect(r.status).toStartWith("HTTP/1.1 421");
    expect(r.body).toContain("b.invalid:443");
    expect(r.body).toContain("a.invalid:443");
  });
  test("upstream failures are 502, and 504 when they took too long", () => {
    expect(parse(refusalBytes(upstreamFailed("a.invalid:443", false))).status).toStartWith("HTTP/1.1 502");
    expect(parse(refusalBytes(upstreamFailed("a.invalid:443", true))).status).toStartWith("HTTP/1.1 504");
  });
  test("the length is the body's bytes, the connection closes, and HEAD gets no body", () => {
    const refusal = { status: 403, code: "address-refused", message: "naïve" };
    const r = parse(refusalBytes(refusal));
    expect(Number(r.headers.get("content-length"))).toBe(Buffer.byteLength(r.body));
    expect(r.headers.get("connection")).toBe("close");
    expect(parse(refusalBytes(refusal, { head: true })).body).toBe("");
  });
  test("a head node:http cannot parse is 431 when too large and 400 otherwise", () => {
    expect(unparsableRequest("HPE_HEADER_OVERFLOW")).toMatchObject({ status: 431, code: "head-too-large" });
    for (const code of ["HPE_INVALID_TRANSFER_ENCODING", "HPE_INVALID_HEADER_TOKEN", "HPE_INVALID_METHOD", undefined]) {
      expect(unparsableRequest(code)).toMatchObject({ status: 400, code: "bad-head" });
    }
  });
});
