import { describe, expect, test } from "bun:test";
import { parseAuthority, type CanonicalTarget } from "../canonical-host.ts";
import { innerTargetRefusal } from "./inner-target.ts";

const target = parseAuthority("localhost:8443") as CanonicalTarget;
const tls = { tls: true, servername: "localhost" };
const request = (method: string, host = "localhost:8443") => ({ method, rawHeaders: ["Host", host] });

describe("a request inside a tunnel, checked against the CONNECT target", () => {
  test("a request naming the target, in any canonical spelling, passes", () => {
    expect(innerTargetRefusal(request("GET"), target, tls)).toBeUndefined();
    expect(innerTargetRefusal(request("GET", "LOCALHOST.:8443"), target, tls)).toBeUndefined();
  });
  test("TRACE and TRACK are 405 on every request, not only a connection's first", () => {
    for (const method of ["TRACE", "TRACK", "trace"]) expect(innerTargetRefusal(request(method), target, tls)).toMatchObject({ status: 405, code: "method-not-allowed" });
  });
  test("another host or port in Host, or another server name, is 421", () => {
    expect(innerTargetRefusal(request("GET", "localhost"), target, tls)).toMatchObject({ status: 421 });
    expect(innerTargetRefusal(request("GET", "127.0.0.1:8443"), target, tls)).toMatchObject({ status: 421 });
    expect(innerTargetRefusal(request("GET"), target, { tls: true, servername: "evil.invalid" })).toMatchObject({ status: 421 });
  });
});
