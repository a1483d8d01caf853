import { describe, expect, test } from "bun:test";
import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import { PassThrough, Readable } from "node:stream";
import { fastRequest, serveInnerH1, type FastRequest } from "./inner-h1-connection.ts";
import type { ClientSide } from "./client-side.ts";

const head = (...lines: string[]) => lines.join("\r\n");

describe("fastRequest", () => {
  test("takes a plain origin-form HTTP/1.1 request, with its body length and Connection: close", () => {
    expect(fastRequest(head("GET /a?b=1 HTTP/1.1", "Host: x.test", "Accept: */*"))).toMatchObject({ head: { method: "GET", target: "/a?b=1" }, bodyLength: 0, close: false });
    expect(fastRequest(head("POST / HTTP/1.1", "Host: x.test", "Content-Length: 12"))).toMatchObject({ bodyLength: 12 });
    expect(fastRequest(head("GET / HTTP/1.1", "Host: x.test", "Connection: keep-alive, Close"))).toMatchObject({ close: true });
  });

  // Each of these goes to node:http, whose answer (400, 431, 405, a relayed upgrade) the e2e tests pin.
  const handedOver: [string, string][] = [
    ["Content-Length beside Transfer-Encoding", head("POST / HTTP/1.1", "Host: x", "Content-Length: 5", "Transfer-Encoding: chunked")],
    ["Transfer-Encoding alone (chunked upload)", head("POST / HTTP/1.1", "Host: x", "Transfer-Encoding: chunked")],
    ["an obfuscated Transfer-Encoding", head("POST / HTTP/1.1", "Host: x", "Transfer-Encoding : chunked")],
    ["two Content-Length fields", head("POST / HTTP/1.1", "Host: x", "Content-Length: 5", "Content-Length: 5")],
    ["a Content-Length list", head("POST / HTTP/1.1", "Host: x", "Content-Length: 5, 5")],
    ["a signed Content-Length", head("POST / HTTP/1.1", "Host: x", "Content-Length: +5")],
    ["a hex Content-Length", head("POST / HTTP/1.1", "Host: x", "Content-Length: 0x5")],
    ["a 16-digit Content-Length", head("POST / HTTP/1.1", "Host: x", "Content-Length: 1234567890123456")],
    ["obs-fold", head("GET / HTTP/1.1", "Host: x", "X-A: 1", " folded")],
    ["obs-fold with a tab", head("GET / HTTP/1.1", "Host: x", "X-A: 1", "\tfolded")],
    ["a bare LF inside a line", "GET / HTTP/1.1\r\nHost: x\nX-A: 1"],
    ["a bare CR inside a line", "GET / HTTP/1.1\r\nHost: x\rX-A: 1"],
    ["a NUL in a value", head("GET / HTTP/1.1", "Host: x", "X-A: a\0b")],
    ["a space before the colon", head("GET / HTTP/1.1", "Host : x")],
    ["an empty field name", head("GET / HTTP/1.1", "Host: x", ": v")],
    ["two Host fields", head("GET / HTTP/1.1", "Host: x", "Host: y")],
    ["HTTP/1.0", head("GET / HTTP/1.0", "Host: x")],
    ["HTTP/2.0 in a request line", head("GET / HTTP/2.0", "Host: x")],
    ["a lower-case version", head("GET / http/1.1", "Host: x")],
    ["absolute-form", head("GET http://x/ HTTP/1.1", "Host: x")],
    ["a CONNECT inside the tunnel", head("CONNECT x:443 HTTP/1.1", "Host: x:443")],
    ["asterisk-form", head("OPTIONS * HTTP/1.1", "Host: x")],
    ["TRACE", head("TRACE / HTTP/1.1", "Host: x")],
    ["a WebSocket upgrade", head("GET /ws HTTP/1.1", "Host: x", "Connection: Upgrade", "Upgrade: websocket")],
    ["Connection: upgrade alone", head("GET / HTTP/1.1", "Host: x", "Connection: keep-alive, upgrade")],
    ["Expect: 100-continue", head("POST / HTTP/1.1", "Host: x", "Content-Length: 3", "Expect: 100-continue")],
    ["an empty line before the request line", "\r\nGET / HTTP/1.1\r\nHost: x"],
    ["two spaces in the request line", "GET  / HTTP/1.1\r\nHost: x"],
    ["a control character in the target", head("GET /a\x01b HTTP/1.1", "Host: x")],
    ["a method with a slash", head("GE/T / HTTP/1.1", "Host: x")],
  ];
  for (const [name, text] of handedOver) {
    test(`hands over ${name}`, () => expect(fastRequest(text)).toBeUndefined());
  }
});

/** A server that speaks the fast path; each request is answered by `answer`, hand-overs recorded. */
async function fastServer(answer: (client: ClientSide, request: FastRequest) => Promise<void>) {
  const handedOver: string[] = [];
  const listener = createServer((socket) =>
    serveInnerH1(socket, {
      maxHeaderBytes: 1024,
      handOver: (unread) => {
        handedOver.push(unread.toString("latin1"));
        socket.end("handed over");
      },
      forward: answer,
    }),
  );
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  return { port: (listener.address() as AddressInfo).port, handedOver, close: () => listener.close() };
}

/** Sends `pieces` one after another and collects everything until the server closes. */
function exchange(port: number, pieces: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const socket: Socket = connect(port, "127.0.0.1", async () => {
      for (const piece of pieces) {
        socket.write(piece, "latin1");
        await new Promise((r) => setImmediate(r));
      }
    });
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.once("close", () => resolve(text));
    socket.once("error", reject);
  });
}

const echoBody = async (client: ClientSide, request: FastRequest) => {
  const body = new PassThrough();
  const chunks: Buffer[] = [];
  body.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => body.once("end", r));
  client.pipeBody(body);
  await done;
  const text = `${request.head.method} ${request.head.target} ${Buffer.concat(chunks).toString("latin1")}`;
  await client.respond(200, "OK", [["content-length", String(text.length)]], Readable.from([Buffer.from(text, "latin1")]));
};

describe("serveInnerH1", () => {
  test("answers pipelined requests in order, bodies split across reads included", async () => {
    const server = await fastServer(echoBody);
    try {
      const text = await exchange(server.port, [
        "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello",
        "world",
        "GET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      ]);
      expect(text.match(/\r\n\r\n[^H]*/g)).toEqual(["\r\n\r\nPOST /one helloworld", "\r\n\r\nGET /two ", "\r\n\r\nGET /three "]);
      expect(text).toContain("connection: close\r\n");
      expect(server.handedOver).toEqual([]);
    } finally {
      server.close();
    }
  });

  test("hands a smuggling head, and every byte after it, to node:http at the request boundary", async () => {
    const server = await fastServer(echoBody);
    try {
      const smuggled = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
      const text = await exchange(server.port, ["GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + smuggled]);
      expect(text).toContain("GET /a ");
      expect(text).toEndWith("handed over");
      expect(server.handedOver).toEqual([smuggled]);
    } finally {
      server.close();
    }
  });

  test("a head over the limit goes to node:http (which answers 431)", async () => {
    const server = await fastServer(echoBody);
    try {
      const big = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(2000)}\r\n\r\n`;
      expect(await exchange(server.port, [big])).toBe("handed over");
      expect(server.handedOver[0]).toStartWith("GET / HTTP/1.1\r\n");
    } finally {
      server.close();
    }
  });

  test("a body without a length is sent chunked, each piece as it arrives", async () => {
    const server = await fastServer(async (client) => {
      const body = new PassThrough();
      const sent = client.respond(200, undefined, [["content-type", "text/event-stream"]], body);
      body.write("data: 1\n\n");
      await new Promise((r) => setTimeout(r, 10));
      body.end("data: 2\n\n");
      await sent;
    });
    try {
      const text = await exchange(server.port, ["GET /sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]);
      expect(text).toStartWith("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n");
      expect(text).toEndWith("\r\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n");
    } finally {
      server.close();
    }
  });

  test("a client that leaves mid-request runs every onGone callback (a body read ahead and the upstream call)", async () => {
    const called: string[] = [];
    let gone!: () => void;
    const bothCalled = new Promise<void>((resolve) => (gone = resolve));
    const server = await fastServer(async (client) => {
      client.onGone(() => called.push("body read ahead"));
      client.onGone(() => {
        called.push("upstream call");
        gone();
      });
      await bothCalled;
    });
    try {
      const socket = connect(server.port, "127.0.0.1", () => socket.end("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf"));
      await bothCalled;
      expect(called).toEqual(["body read ahead", "upstream call"]);
    } finally {
      server.close();
    }
  });

  test("an upstream header with a CR or LF cuts the connection instead of splitting the response", async () => {
    const server = await fastServer(async (client) => void (await client.respond(200, undefined, [["x-a", "1\r\nset-cookie: evil=1"]], Readable.from([]))));
    try {
      expect(await exchange(server.port, ["GET / HTTP/1.1\r\nHost: x\r\n\r\n"])).toBe("");
    } finally {
      server.close();
    }
  });

  test("after a refusal the connection ends, so a pipelined request behind it is not read", async () => {
    let forwarded = 0;
    const server = await fastServer(async (client) => {
      forwarded++;
      client.refuse({ status: 421, code: "misdirected", message: "no" }, { "x-request-id": "r1" });
    });
    try {
      const text = await exchange(server.port, ["GET /a HTTP/1.1\r\nHost: evil\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"]);
      expect(text).toStartWith("HTTP/1.1 421 Misdirected Request\r\n");
      expect(text).toContain("x-request-id: r1\r\n");
      expect(forwarded).toBe(1);
    } finally {
      server.close();
    }
  });
  test("a refusal whose message is not ASCII arrives whole: Content-Length counts its UTF-8 bytes", async () => {
    const message = "signed with access key …MPLE, which is not a placeholder key of this run";
    const server = await fastServer(async (client) => client.refuse({ status: 403, code: "aws-unknown-key", message }, {}));
    try {
      const raw = Buffer.from(await exchange(server.port, ["GET /a HTTP/1.1\r\nHost: x\r\n\r\n"]), "latin1");
      const split = raw.indexOf("\r\n\r\n");
      const length = Number(/content-length: (\d+)/i.exec(raw.subarray(0, split).toString("latin1"))![1]);
      const body = raw.subarray(split + 4);
      expect(body.length).toBe(length);
      expect(body.toString("utf8")).toBe(message + "\n");
    } finally {
      server.close();
    }
  });
});
