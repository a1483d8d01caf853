import { describe, expect, test } from "bun:test";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { createSecureContext } from "node:tls";
import { parseResponseHead, UpstreamH1 } from "./upstream-h1.ts";
import type { UpstreamResponse } from "./upstream-exchange.ts";

const limits = { connectTimeoutMs: 2000, responseHeadTimeoutMs: 2000, idleTimeoutMs: 5000 };
const head = (...lines: string[]) => lines.join("\r\n");

describe("parseResponseHead", () => {
  test("reads status, reason, fields and framing", () => {
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Content-Length: 5", "X-A:  b "), "GET")).toEqual({
      status: 200,
      reason: "OK",
      headers: [["Content-Length", "5"], ["X-A", "b"]],
      framing: { kind: "length", length: 5 },
      keepAlive: true,
    });
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"), "GET")).toMatchObject({ framing: { kind: "chunked" } });
    expect(parseResponseHead(head("HTTP/1.1 200 OK"), "GET")).toMatchObject({ framing: { kind: "close" }, keepAlive: false });
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Content-Length: 5"), "HEAD")).toMatchObject({ framing: { kind: "none" } });
    expect(parseResponseHead(head("HTTP/1.1 304 Not Modified", "Content-Length: 5"), "GET")).toMatchObject({ framing: { kind: "none" } });
    expect(parseResponseHead(head("HTTP/1.0 200 OK", "Content-Length: 1"), "GET")).toMatchObject({ keepAlive: false });
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Content-Length: 1", "Connection: Close"), "GET")).toMatchObject({ keepAlive: false });
    expect(parseResponseHead("HTTP/1.1 204", "GET")).toMatchObject({ status: 204, reason: undefined });
  });

  const hostile: [string, string][] = [
    ["Content-Length beside Transfer-Encoding", head("HTTP/1.1 200 OK", "Content-Length: 5", "Transfer-Encoding: chunked")],
    ["a Transfer-Encoding other than chunked", head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked")],
    ["two Transfer-Encoding fields", head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked")],
    ["two Content-Length fields", head("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 5")],
    ["a Content-Length list", head("HTTP/1.1 200 OK", "Content-Length: 5, 6")],
    ["a negative Content-Length", head("HTTP/1.1 200 OK", "Content-Length: -1")],
    ["obs-fold", head("HTTP/1.1 200 OK", "X-A: 1", " folded")],
    ["a space before the colon", head("HTTP/1.1 200 OK", "Content-Length : 5")],
    ["a bare LF", "HTTP/1.1 200 OK\nContent-Length: 5"],
    ["a NUL in a value", head("HTTP/1.1 200 OK", "X-A: a\0b")],
    ["an HTTP/2 status line", head("HTTP/2 200", "Content-Length: 5")],
    ["a two-digit status", head("HTTP/1.1 20 OK", "Content-Length: 5")],
    ["no status line", head("Content-Length: 5")],
  ];
  for (const [name, text] of hostile) test(`refuses ${name}`, () => expect(parseResponseHead(text, "GET")).toHaveProperty("error"));
});

/** A raw upstream: `answer` gets each connection's requests as text and writes what it likes. */
async function rawUpstream(answer: (socket: Socket, request: string, connection: number) => void) {
  let connections = 0;
  const server = createServer((socket) => {
    const n = ++connections;
    let text = "";
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      for (let end = text.indexOf("\r\n\r\n"); end >= 0; end = text.indexOf("\r\n\r\n")) {
        const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (text.length < end + 4 + length) return;
        answer(socket, text.slice(0, end + 4 + length), n);
        text = text.slice(end + 4 + length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, connections: () => connections, close: () => server.close() };
}

const context = createSecureContext({});
const pool = () => new UpstreamH1();
const to = (port: number) => ({ key: `t\x00127.0.0.1\x00${port}\x00plain`, host: "127.0.0.1", port, tls: false, servername: undefined, secureContext: context });

async function call(h1: UpstreamH1, port: number, options: { method?: string; body?: string; headers?: Record<string, string> } = {}) {
  const body = options.body ?? "";
  const headers = { host: "x.test", ...(body ? { "content-length": String(body.length) } : {}), ...options.headers };
  const exchange = h1.exchange(to(port), { method: options.method ?? "GET", path: "/p", headers, bodyLength: body.length }, limits);
  exchange.body.end(body);
  const response = await exchange.response;
  if ("kind" in response) return response;
  return { ...response, text: await text(response) };
}

async function text(response: UpstreamResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("latin1");
}

describe("UpstreamH1", () => {
  test("sends head and body, reads a Content-Length response and reuses the connection", async () => {
    const seen: string[] = [];
    const upstream = await rawUpstream((socket, request) => {
      seen.push(request);
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    try {
      const h1 = pool();
      expect(await call(h1, upstream.port, { method: "POST", body: "hello" })).toMatchObject({ status: 200, statusMessage: "OK", text: "ok" });
      await new Promise((resolve) => setImmediate(resolve));
      expect(await call(h1, upstream.port)).toMatchObject({ status: 200, text: "ok" });
      expect(seen[0]).toBe("POST /p HTTP/1.1\r\nhost: x.test\r\ncontent-length: 5\r\n\r\nhello");
      expect(upstream.connections()).toBe(1);
    } finally {
      upstream.close();
    }
  });

  test("decodes a chunked response and skips a 100 Continue before it", async () => {
    const upstream = await rawUpstream((socket) => socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
    try {
      expect(await call(pool(), upstream.port)).toMatchObject({ status: 200, text: "abcde" });
    } finally {
      upstream.close();
    }
  });

  test("reads a body to the close, and does not reuse that connection", async () => {
    const upstream = await rawUpstream((socket) => socket.end("HTTP/1.1 200 OK\r\n\r\nall of it"));
    try {
      const h1 = pool();
      expect(await call(h1, upstream.port)).toMatchObject({ text: "all of it" });
      expect(await call(h1, upstream.port)).toMatchObject({ text: "all of it" });
      expect(upstream.connections()).toBe(2);
    } finally {
      upstream.close();
    }
  });

  test("a body cut off before its Content-Length is an error on the body, never a short success", async () => {
    const upstream = await rawUpstream((socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"));
    try {
      const exchange = pool().exchange(to(upstream.port), { method: "GET", path: "/", headers: { host: "x" }, bodyLength: 0 }, limits);
      exchange.body.end();
      const response = (await exchange.response) as UpstreamResponse;
      await expect(text(response)).rejects.toThrow("upstream closed mid-body");
    } finally {
      upstream.close();
    }
  });

  const failures: [string, string][] = [
    ["a smuggling response head", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    ["a 101 nobody asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"],
    ["a bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
  ];
  for (const [name, wire] of failures) {
    test(`${name} fails the exchange`, async () => {
      const upstream = await rawUpstream((socket) => socket.write(wire));
      try {
        const result = await call(pool(), upstream.port).catch((error: Error) => ({ kind: "body", error }));
        expect(result).toHaveProperty("kind");
      } finally {
        upstream.close();
      }
    });
  }

  test("a header value with CR LF is never written upstream", async () => {
    const upstream = await rawUpstream((socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    try {
      expect(await call(pool(), upstream.port, { headers: { "x-a": "1\r\nx-injected: 1" } })).toMatchObject({ kind: "connect" });
      expect(upstream.connections()).toBe(0);
    } finally {
      upstream.close();
    }
  });

  test("an upstream that says nothing is a timeout", async () => {
    const upstream = await rawUpstream(() => {});
    try {
      const exchange = pool().exchange(to(upstream.port), { method: "GET", path: "/", headers: { host: "x" }, bodyLength: 0 }, { ...limits, responseHeadTimeoutMs: 50 });
      exchange.body.end();
      expect(await exchange.response).toMatchObject({ kind: "timeout" });
    } finally {
      upstream.close();
    }
  });
});
