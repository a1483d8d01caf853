import { describe, expect, test } from "bun:test";
import { forwardHeaders, responseHeaders } from "./forward-headers.ts";

const names = (list: readonly (readonly [string, string])[]) => list.map(([n]) => n);

describe("the headers an upstream receives", () => {
  test("proxy and hop-by-hop headers never reach the upstream", () => {
    const out = forwardHeaders(
      [["Host", "a.invalid"], ["Proxy-Authorization", "Basic eDp5"], ["Proxy-Connection", "keep-alive"], ["Connection", "keep-alive, X-Secret-Hop"], ["X-Secret-Hop", "1"], ["Keep-Alive", "5"], ["TE", "trailers"], ["Accept", "*/*"]],
      [],
    );
    expect(out).toEqual([["host", "a.invalid"], ["accept", "*/*"]]);
  });
  test("every client value of an injected header is removed, in any case and repeated", () => {
    const out = forwardHeaders([["authorization", "Bearer sandbox-chose"], ["AUTHORIZATION", "Bearer again"], ["Accept", "*/*"]], [{ header: "Authorization", value: "Bearer real" }]);
    expect(out).toEqual([["accept", "*/*"], ["authorization", "Bearer real"]]);
  });
  test("a custom header is injected beside the client's own headers", () => {
    const out = forwardHeaders([["x-api-key", "placeholder"], ["authorization", "Bearer user"]], [{ header: "x-api-key", value: "real" }]);
    expect(out).toEqual([["authorization", "Bearer user"], ["x-api-key", "real"]]);
  });
  test("a relayed WebSocket handshake keeps exactly one Connection: upgrade and its Upgrade", () => {
    const out = forwardHeaders([["Connection", "Upgrade, keep-alive"], ["Upgrade", "websocket"], ["Sec-WebSocket-Key", "k"]], [], { upgrade: true });
    expect(out).toEqual([["sec-websocket-key", "k"], ["connection", "upgrade"], ["upgrade", "websocket"]]);
    expect(names(forwardHeaders([["Connection", "Upgrade"], ["Upgrade", "websocket"]], []))).toEqual([]);
  });
  test("a response keeps its own headers and loses the upstream hop's", () => {
    const out = responseHeaders([["Content-Type", "text/event-stream"], ["Connection", "keep-alive, X-Hop"], ["X-Hop", "1"], ["Keep-Alive", "timeout=5"], ["Transfer-Encoding", "chunked"], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]]);
    expect(out).toEqual([["content-type", "text/event-stream"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
  });
});
