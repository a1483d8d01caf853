import { describe, expect, test } from "bun:test";
import { createLogger, type Logger } from "../log.ts";
import type { PeerCred } from "../net/peer-credentials.ts";
import { HttpConnection, type HttpConnectionOptions, type HttpTransport } from "./http-connection.ts";

const PEER: PeerCred = { pid: 4242, uid: 1000, gid: 1000 };

/** A transport that keeps what was written; `accept` caps how many bytes each write takes. */
class FakeTransport implements HttpTransport {
  out = "";
  ended = false;
  terminated = false;
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

/** Resolves once `check()` holds (polled every 5 ms); rejects after `limitMs`, so a broken deadline fails, not hangs. */
async function until(check: () => boolean, limitMs = 5000): Promise<void> {
  for (let waited = 0; !check(); waited += 5) {
    if (waited >= limitMs) throw new Error(`condition not met within ${limitMs} ms`);
    await Bun.sleep(5);
  }
}

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;
const send = (conn: HttpConnection, text: string) => conn.receive(Buffer.from(text, "latin1"));

/** A promise the test settles: a handler awaiting `opened` runs until `open()` is called. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe("HttpConnection", () => {
  test("a complete GET is answered with the handler's status, headers and body, and the connection kept open", async () => {
    const { conn, transport } = connect();
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
    await until(() => transport.out.split("HTTP/1.1 ").length === 3);
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
    await until(() => transport.ended);
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

describe("HttpConnection limits", () => {
  test("headers over 16 KiB that arrive in chunks under the cap are refused with 431 as the total crosses it", () => {
    const { conn, transport } = connect();
    send(conn, "GET / HTTP/1.1\r\n");
    const line = `X-Filler: ${"a".repeat(1000)}\r\n`;
    let sent = "GET / HTTP/1.1\r\n".length;
    while (sent + line.length <= 16 * 1024) {
      send(conn, line);
      sent += line.length;
    }
    expect(transport.out).toBe("");
    send(conn, line);
    expect(transport.statuses()).toEqual(["431 Request Header Fields Too Large"]);
    expect(transport.ended).toBe(true);
  });

  test("a complete head over 16 KiB whose last chunk brings its end is refused with 431", () => {
    const { conn, transport } = connect();
    send(conn, "GET / HTTP/1.1\r\n");
    for (let i = 0; i < 16; i++) send(conn, `X-${i}: ${"b".repeat(1000)}\r\n`);
    expect(transport.out).toBe("");
    send(conn, `X-last: ${"c".repeat(500)}\r\n\r\n`);
    expect(transport.statuses()).toEqual(["431 Request Header Fields Too Large"]);
  });

  test("input that piles up while a handler runs is cut off past 64 KiB: the connection is dropped and nothing more answered", async () => {
    const slow = gate();
    const { conn, transport, logger } = connect({
      handle: async () => {
        await slow.opened;
        return new Response("late");
      },
    });
    send(conn, GET("/slow"));
    const chunk = Buffer.alloc(4096, "a");
    for (let i = 0; i < 15; i++) conn.receive(chunk);
    expect(transport.terminated).toBe(false);
    conn.receive(chunk);
    conn.receive(chunk);
    expect(transport.terminated).toBe(true);
    expect(logger.records).toContainEqual(expect.objectContaining({ level: "debug", msg: "closed a connection that sent too much while a request was being answered", pid: 4242 }));
    slow.open();
    await settle();
    expect(transport.out).toBe("");
  });

  test("requests sent in later chunks while a handler runs are answered after it, in order", async () => {
    const slow = gate();
    const { conn, transport } = connect({
      handle: async (path) => {
        if (path === "/a") await slow.opened;
        return Response.json({ path });
      },
    });
    send(conn, GET("/a"));
    for (const byte of GET("/b") + GET("/c")) send(conn, byte);
    await settle();
    expect(transport.out).toBe("");
    slow.open();
    await until(() => transport.out.split("HTTP/1.1 ").length === 4);
    expect([...transport.out.matchAll(/\{"path":"(\/\w)"\}/g)].map((m) => m[1])).toEqual(["/a", "/b", "/c"]);
    expect(transport.terminated).toBe(false);
  });

  test("a client that pipelines without reading is dropped once 1 MiB of answers waits for it", async () => {
    let handled = 0;
    const { conn, transport, logger } = connect({
      handle: () => {
        handled++;
        return new Response("x".repeat(300 * 1024));
      },
    });
    transport.accept = 0;
    send(conn, GET("/1") + GET("/2") + GET("/3") + GET("/4") + GET("/5"));
    await until(() => transport.terminated);
    expect(handled).toBe(4);
    expect(transport.terminated).toBe(true);
    expect(transport.out).toBe("");
    expect(logger.records).toContainEqual(expect.objectContaining({ level: "debug", msg: "closed a connection that does not read its answers" }));
  });
});

describe("HttpConnection deadlines", () => {
  test("a connection that sends nothing is closed at the head deadline", async () => {
    const { transport } = connect({ headTimeoutSeconds: 0.05 });
    await until(() => transport.ended);
    expect(transport.out).toBe("");
  });

  test("a head must be complete by its deadline: bytes trickling in do not extend it", async () => {
    const { conn, transport, logger } = connect({ headTimeoutSeconds: 0.2, idleTimeoutSeconds: 10 });
    // One byte every 20 ms for up to 4 s (20 times the deadline): each byte would have re-armed a
    // per-read timer, so only a deadline that ignores partial data closes the connection in time.
    const head = GET("/").slice(0, -2);
    for (let i = 0; i < 200 && !transport.ended; i++) {
      send(conn, head[i % head.length]!);
      await Bun.sleep(20);
    }
    expect(transport.ended).toBe(true);
    expect(transport.out).toBe("");
    expect(logger.records).toContainEqual(expect.objectContaining({ level: "debug", msg: "closed a connection whose request head did not arrive in time" }));
  });

  test("no deadline runs while a handler runs; the idle one starts once the answer is written", async () => {
    const slow = gate();
    let endedBeforeAnswer = false;
    const { conn, transport } = connect({
      headTimeoutSeconds: 0.05,
      idleTimeoutSeconds: 0.05,
      handle: async () => {
        await slow.opened;
        endedBeforeAnswer = transport.ended;
        return new Response("slow but sure");
      },
    });
    send(conn, GET("/"));
    await Bun.sleep(150); // three times both deadlines
    slow.open();
    await until(() => transport.ended);
    expect(endedBeforeAnswer).toBe(false);
    expect(transport.out).toEndWith("slow but sure");
  });

  test("an idle keep-alive connection is closed after the idle timeout, unless a new head has begun", async () => {
    const idle = connect({ headTimeoutSeconds: 10, idleTimeoutSeconds: 0.05 });
    send(idle.conn, GET("/"));
    await until(() => idle.transport.ended);
    expect(idle.transport.statuses()).toEqual(["200 OK"]);

    // A head begun right after the answer replaces the 0.1 s idle timer by its own 1 s deadline.
    const { conn, transport } = connect({ headTimeoutSeconds: 1, idleTimeoutSeconds: 0.1 });
    send(conn, GET("/"));
    await until(() => transport.statuses().length === 1);
    send(conn, "GET /");
    await Bun.sleep(400);
    expect(transport.ended).toBe(false);
    await until(() => transport.ended);
    expect(transport.statuses()).toEqual(["200 OK"]);
  });
});

describe("HttpConnection header validation", () => {
  test.each([
    ["a space before a header's colon", "GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", "malformed header line"],
    ["a NUL in a header value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", "malformed header line"],
    ["a CR inside a header line", "GET / HTTP/1.1\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n", "malformed header line"],
    ["a control character in the request target", "GET /a\x01b HTTP/1.1\r\n\r\n", "malformed request target"],
    ["a bare LF inside a header line", "GET / HTTP/1.1\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n", "a line ends in a bare LF, not CRLF"],
    ["bare LF line endings throughout", "GET / HTTP/1.1\nHost: x\n\n", "a line ends in a bare LF, not CRLF"],
  ])("%s is a 400 and the connection closed", (_, request, message) => {
    let handled = 0;
    const { conn, transport } = connect({
      handle: () => {
        handled++;
        return new Response("");
      },
    });
    send(conn, request);
    expect(transport.statuses()).toEqual(["400 Bad Request"]);
    expect(transport.json()).toEqual({ Code: "BadRequest", Message: message });
    expect(transport.ended).toBe(true);
    expect(handled).toBe(0);
  });

  test("a CRLF split across chunks is still a CRLF", async () => {
    const { conn, transport } = connect();
    for (const chunk of ["GET / HTTP/1.1\r", "\nHost: x\r", "\n\r", "\n"]) send(conn, chunk);
    await settle();
    expect(transport.statuses()).toEqual(["200 OK"]);
  });
});
