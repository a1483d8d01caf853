import { describe, expect, test } from "bun:test";
import { createLogger, type Logger } from "../log.ts";
import type { PeerCred } from "../net/peer-credentials.ts";
import { HttpConnection, parseRequestHead, type HttpConnectionOptions, type HttpTransport } from "./http-connection.ts";

const PEER: PeerCred = { pid: 4242, uid: 1000, gid: 1000 };

/** A transport that keeps what was written; `accept` caps how many bytes each write takes. */
class FakeTransport implements HttpTransport {
  out = "";
  ended = false;
  terminated = false;
  timeouts: number[] = [];
  accept = Infinity;

  write(bytes: Uint8Array): number {
    if (this.ended || this.terminated) return -1;
    const taken = Math.min(bytes.length, this.accept);
    this.out += Buffer.from(bytes.subarray(0, taken)).toString("latin1");
    return taken;
  }
  end(): void {
    this.ended = true;
  }
  terminate(): void {
    this.terminated = true;
  }
  timeout(seconds: number): void {
    this.timeouts.push(seconds);
  }
  /** The status lines written so far, in order. */
  statuses(): string[] {
    return [...this.out.matchAll(/^HTTP\/1\.1 (\d{3} [^\r]*)\r\n/gm)].map((m) => m[1]!);
  }
  /** The body of the only response written, parsed as JSON. */
  json(): { Code: string; Message: string } {
    return JSON.parse(this.out.slice(this.out.indexOf("\r\n\r\n") + 4)) as { Code: string; Message: string };
  }
}

function capturingLogger(): Logger & { records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", write: (line) => records.push(JSON.parse(line) as Record<string, unknown>) });
  return Object.assign(logger, { records });
}

function connect(overrides: Partial<HttpConnectionOptions> = {}, { admit = true } = {}) {
  const transport = new FakeTransport();
  const logger = capturingLogger();
  const conn = new HttpConnection(transport, {
    handle: (path, peer) => Response.json({ path, pid: peer.pid }, { headers: { "cache-control": "no-store" } }),
    logger,
    idleTimeoutSeconds: 7,
    ...overrides,
  });
  if (admit) conn.admit(PEER);
  return { conn, transport, logger };
}

/** Lets handlers and the promise chain after them run. */
const settle = () => Bun.sleep(1);

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;
const send = (conn: HttpConnection, text: string) => conn.receive(Buffer.from(text, "latin1"));

describe("HttpConnection", () => {
  test("a complete GET is answered with the handler's status, headers and body, and the connection kept open", async () => {
    const { conn, transport } = connect();
    expect(transport.timeouts).toEqual([7]);
    send(conn, GET("/role-arn/x?q=1"));
    await settle();
    const body = '{"path":"/role-arn/x","pid":4242}';
    expect(transport.out).toBe(
      `HTTP/1.1 200 OK\r\ncache-control: no-store\r\ncontent-type: application/json;charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`,
    );
    expect(transport.ended).toBe(false);
  });

  test("HEAD gets the GET's headers, including its content-length, and no body", async () => {
    const { conn, transport } = connect();
    send(conn, `HEAD /x HTTP/1.1\r\n\r\n`);
    await settle();
    expect(transport.out).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(transport.out).toContain(`content-length: ${'{"path":"/x","pid":4242}'.length}\r\n`);
    expect(transport.out.endsWith("\r\n\r\n")).toBe(true);
  });

  test("a request split across chunks is answered once its head is complete", async () => {
    const { conn, transport } = connect();
    for (const chunk of ["GE", "T /split HTTP/1.", "1\r\nHost: local", "host\r\n\r", "\n"]) {
      expect(transport.out).toBe("");
      send(conn, chunk);
    }
    await settle();
    expect(transport.statuses()).toEqual(["200 OK"]);
    expect(transport.out).toContain('{"path":"/split","pid":4242}');
  });

  test("keep-alive: two pipelined requests are answered in order, even when the first is slower", async () => {
    const { conn, transport } = connect({
      handle: async (path) => {
        await Bun.sleep(path === "/a" ? 20 : 0);
        return Response.json({ path });
      },
    });
    send(conn, GET("/a") + GET("/b"));
    await Bun.sleep(40);
    expect([...transport.out.matchAll(/\{"path":"(\/\w)"\}/g)].map((m) => m[1])).toEqual(["/a", "/b"]);
    expect(transport.out.match(/connection: keep-alive/g)?.length).toBe(2);
    expect(transport.ended).toBe(false);
  });

  test("Connection: close is answered with connection: close, then the connection is ended and later requests ignored", async () => {
    let handled = 0;
    const { conn, transport } = connect({
      handle: () => {
        handled++;
        return new Response("ok");
      },
    });
    send(conn, GET("/", "Connection: close\r\n") + GET("/"));
    await settle();
    expect(transport.statuses()).toEqual(["200 OK"]);
    expect(transport.out).toContain("connection: close\r\n");
    expect(transport.ended).toBe(true);
    expect(handled).toBe(1);
  });

  test("HTTP/1.0 closes unless it asks for keep-alive", async () => {
    const { conn, transport } = connect();
    send(conn, `GET / HTTP/1.0\r\n\r\n`);
    await settle();
    expect(transport.out).toContain("connection: close\r\n");
    expect(transport.ended).toBe(true);
  });

  test("a request with a body is refused with 400 and the connection closed", () => {
    for (const request of [`POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello`, `GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`]) {
      const { conn, transport } = connect();
      send(conn, request);
      expect(transport.statuses()).toEqual(["400 Bad Request"]);
      expect(transport.out).toContain("connection: close\r\n");
      expect(transport.json()).toEqual({ Code: "BadRequest", Message: "request bodies are not accepted" });
      expect(transport.ended).toBe(true);
    }
  });

  test("headers over 16 KiB are refused with 431, whether or not their end has arrived", () => {
    for (const request of [`GET / HTTP/1.1\r\nX: ${"a".repeat(20_000)}\r\n\r\n`, `GET / HTTP/1.1\r\nX: ${"a".repeat(20_000)}`]) {
      const { conn, transport } = connect();
      send(conn, request);
      expect(transport.statuses()).toEqual(["431 Request Header Fields Too Large"]);
      expect(transport.json()).toEqual({ Code: "RequestTooLarge", Message: "request headers are too large" });
      expect(transport.ended).toBe(true);
    }
  });

  test("headers just under the cap are still served", async () => {
    const { conn, transport } = connect();
    send(conn, `GET / HTTP/1.1\r\nX: ${"a".repeat(16 * 1024 - 40)}\r\n\r\n`);
    await settle();
    expect(transport.statuses()).toEqual(["200 OK"]);
  });

  test("a malformed request line is a 400 and the connection closed", () => {
    const { conn, transport } = connect();
    send(conn, `GET /\r\n\r\n`);
    expect(transport.statuses()).toEqual(["400 Bad Request"]);
    expect(transport.json()).toEqual({ Code: "BadRequest", Message: "malformed request line" });
    expect(transport.ended).toBe(true);
  });

  test("a method other than GET or HEAD is a 405 with Allow, and keep-alive is kept", () => {
    const { conn, transport } = connect();
    send(conn, `DELETE / HTTP/1.1\r\n\r\n`);
    expect(transport.statuses()).toEqual(["405 Method Not Allowed"]);
    expect(transport.out).toContain("allow: GET, HEAD\r\n");
    expect(transport.out).toContain("connection: keep-alive\r\n");
    expect(transport.json()).toEqual({ Code: "MethodNotAllowed", Message: "DELETE is not supported" });
    expect(transport.ended).toBe(false);
  });

  test("a refused connection gets one 403 naming the reason, even for a malformed request, and is closed", () => {
    const { conn, transport } = connect({}, { admit: false });
    conn.refuse("uid 1000 is not allowed", PEER);
    send(conn, "NONSENSE\r\n\r\n" + GET("/"));
    expect(transport.statuses()).toEqual(["403 Forbidden"]);
    expect(transport.json()).toEqual({ Code: "AccessDenied", Message: "this broker does not serve this process: uid 1000 is not allowed" });
    expect(transport.ended).toBe(true);
  });

  test("a connection never judged is refused as an unknown peer (fail closed)", () => {
    const { conn, transport } = connect({}, { admit: false });
    send(conn, GET("/"));
    expect(transport.json().Message).toBe("this broker does not serve this process: unknown peer");
  });

  test("a handler that throws gives 500 JSON without details, and the error is logged", async () => {
    const { conn, transport, logger } = connect({
      handle: () => {
        throw new Error("boom with internals");
      },
    });
    send(conn, GET("/x", "Connection: close\r\n"));
    await settle();
    expect(transport.statuses()).toEqual(["500 Internal Server Error"]);
    expect(transport.json()).toEqual({ Code: "InternalError", Message: "internal error" });
    expect(logger.records).toContainEqual(expect.objectContaining({ level: "error", msg: "request handler failed", error: "boom with internals", path: "/x" }));
  });

  test("output the transport cannot take is kept and written on drain, and the close waits for it", async () => {
    const { conn, transport } = connect({ handle: () => new Response("x".repeat(100)) });
    transport.accept = 10;
    send(conn, GET("/", "Connection: close\r\n"));
    await settle();
    expect(transport.out.length).toBe(10);
    expect(transport.ended).toBe(false);
    transport.accept = Infinity;
    conn.drain();
    expect(transport.out).toEndWith("x".repeat(100));
    expect(transport.ended).toBe(true);
  });

  test("end of input: the request already read is answered, then the connection ends", async () => {
    const { conn, transport } = connect({
      handle: async () => {
        await Bun.sleep(5);
        return new Response("late");
      },
    });
    send(conn, GET("/"));
    conn.endOfInput();
    expect(transport.ended).toBe(false);
    await Bun.sleep(20);
    expect(transport.out).toEndWith("late");
    expect(transport.ended).toBe(true);
  });

  test("a debug record per request carries the peer and status, never the body", async () => {
    const { conn, logger } = connect({ handle: () => new Response("secret-body") });
    send(conn, GET("/p"));
    await settle();
    const record = logger.records.find((r) => r.msg === "request");
    expect(record).toMatchObject({ pid: 4242, uid: 1000, method: "GET", path: "/p", status: 200 });
    expect(JSON.stringify(logger.records)).not.toContain("secret-body");
  });
});

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
    expect(parseRequestHead("GET / HTTP/2.0")).toEqual({ error: "malformed request line" });
    expect(parseRequestHead("GET * HTTP/1.1")).toEqual({ error: "malformed request target" });
  });
});
