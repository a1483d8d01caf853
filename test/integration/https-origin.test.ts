/**
 * The echo origins the proxy's end-to-end tests talk to, checked with independent clients
 * (curl, Bun's fetch/WebSocket, node:http2) so that what they record can be trusted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as h2connect } from "node:http2";
import { connect as netConnect } from "node:net";
import { cleanupAll, liveChildren, tempDir } from "../helpers/cleanup.ts";
import { curl, streamingCurl } from "../helpers/curl.ts";
import { startHttpOrigin, startHttpsOrigin, type EchoOrigin, type RecordedRequest } from "../helpers/https-origin.ts";
import { makeTestPki, type TestPki } from "../helpers/test-ca.ts";
import { deferred, withTimeout } from "../helpers/wait.ts";

let pki: TestPki;
let h1: EchoOrigin;
let h2: EchoOrigin;

beforeAll(async () => {
  pki = await makeTestPki(await tempDir("credproxy-origin-"), { names: ["localhost", "api.example.invalid"], ips: ["127.0.0.1"] });
  h1 = await startHttpsOrigin({ pki, name: "h1" });
  h2 = await startHttpsOrigin({ pki, alpn: ["h2", "http/1.1"], name: "h2" });
});

afterAll(async () => {
  await cleanupAll();
  expect(liveChildren()).toEqual([]);
});

async function echoed(args: string[]): Promise<RecordedRequest> {
  const r = await curl(args);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as RecordedRequest;
}

/** The same name twice, to see both values come through in order. */
const REPEATED = ["-H", "X-Repeat: one", "-H", "X-Repeat: two"];

describe("HTTPS origin over HTTP/1.1", () => {
  test("echoes method, path, version, every header with repeats as arrays, the body and the ALPN", async () => {
    const before = h1.requests.length;
    const got = await echoed(["--cacert", pki.caFile, "--http1.1", ...REPEATED, "-H", "Authorization: Bearer x", "--data-binary", "héllo", `${h1.url()}/a/b?c=d`]);
    expect(got).toMatchObject({ origin: "h1", method: "POST", path: "/a/b?c=d", httpVersion: "1.1", body: "héllo", alpn: "http/1.1", upgrade: false });
    expect(got.authority).toBe(`127.0.0.1:${h1.port}`);
    expect(got.headers["x-repeat"]).toEqual(["one", "two"]);
    expect(got.headers.authorization).toBe("Bearer x");
    expect(got.pseudo).toEqual({});
    expect(h1.requests.length).toBe(before + 1);
    expect(h1.requests.at(-1)).toEqual(got);
  });

  test("a client that offers h2 still gets HTTP/1.1 from an HTTP/1.1 origin", async () => {
    const got = await echoed(["--cacert", pki.caFile, "--http2", `${h1.url()}/`]);
    expect(got.httpVersion).toBe("1.1");
    expect(got.alpn).toBe("http/1.1");
  });

  test("the leaf verifies for a DNS name in its SAN", async () => {
    const got = await echoed(["--cacert", pki.caFile, "--resolve", `api.example.invalid:${h1.port}:127.0.0.1`, `${h1.url("api.example.invalid")}/named`]);
    expect(got.authority).toBe(`api.example.invalid:${h1.port}`);
  });

  test("/status/<code> answers that status", async () => {
    const r = await curl(["--cacert", pki.caFile, "-o", "/dev/null", "-w", "%{http_code}", `${h1.url()}/status/418`]);
    expect(r.stdout).toBe("418");
    const none = await curl(["--cacert", pki.caFile, "-D", "-", `${h1.url()}/status/204`]);
    expect(none.stdout).toStartWith("HTTP/1.1 204");
    expect(none.stdout).not.toContain("{");
  });
});

describe("HTTPS origin with h2", () => {
  test("echoes an h2 request: version 2.0, ALPN h2, pseudo-headers apart from the headers", async () => {
    const got = await echoed(["--cacert", pki.caFile, "--http2", ...REPEATED, "--data-binary", "body", `${h2.url()}/x?y=1`]);
    expect(got).toMatchObject({ origin: "h2", method: "POST", path: "/x?y=1", httpVersion: "2.0", alpn: "h2", body: "body" });
    expect(got.pseudo[":authority"]).toBe(`127.0.0.1:${h2.port}`);
    expect(got.pseudo[":scheme"]).toBe("https");
    expect(got.authority).toBe(`127.0.0.1:${h2.port}`);
    expect(got.headers["x-repeat"]).toEqual(["one", "two"]);
    expect(Object.keys(got.headers).some((k) => k.startsWith(":"))).toBe(false);
  });

  test("also serves HTTP/1.1 to a client that does not offer h2", async () => {
    const got = await echoed(["--cacert", pki.caFile, "--http1.1", `${h2.url()}/`]);
    expect(got.httpVersion).toBe("1.1");
    expect(got.alpn).toBe("http/1.1");
  });

  test("/status/<code> works over h2", async () => {
    const r = await curl(["--cacert", pki.caFile, "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", `${h2.url()}/status/503`]);
    expect(r.stdout).toBe("2 503");
  });
});

/** Drives /sse in lockstep: event k must be at the client before the origin may send k+1. */
async function sseLockstep(origin: EchoOrigin, extra: string[]): Promise<void> {
  const base = origin.sseSent;
  const client = streamingCurl(["--cacert", pki.caFile, ...extra, `${origin.url()}/sse?n=3`]);
  await client.until('data: {"k":1,"of":3}\n\n');
  expect(origin.sseSent).toBe(base + 1);
  expect(client.output).not.toContain("id: 2");
  origin.releaseNext();
  await client.until('data: {"k":2,"of":3}\n\n');
  expect(client.output).not.toContain("id: 3");
  origin.releaseNext();
  await client.until('data: {"k":3,"of":3}\n\n');
  expect(await client.exited).toBe(0);
  expect(origin.sseSent).toBe(base + 3);
  expect(client.output).toBe(
    [1, 2, 3].map((k) => `id: ${k}\nevent: tick\ndata: ${JSON.stringify({ k, of: 3 })}\n\n`).join(""),
  );
}

describe("ALPN choices", () => {
  test("an h2-only origin refuses a client that offers only HTTP/1.1", async () => {
    const origin = await startHttpsOrigin({ pki, alpn: ["h2"], name: "h2only" });
    const refused = await curl(["--cacert", pki.caFile, "--http1.1", `${origin.url()}/`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("no application protocol");
    expect((await echoed(["--cacert", pki.caFile, "--http2", `${origin.url()}/`])).alpn).toBe("h2");
    expect(origin.requests.length).toBe(1);
    await origin.close();
  });

  test("alpn: [] gives an origin that agrees on no protocol, and records alpn null", async () => {
    const origin = await startHttpsOrigin({ pki, alpn: [], name: "no-alpn" });
    const got = await echoed(["--cacert", pki.caFile, `${origin.url()}/`]);
    expect(got.alpn).toBeNull();
    expect(got.httpVersion).toBe("1.1");
    await origin.close();
  });
});

describe("/sse", () => {
  test("sends event k+1 only after releaseNext(), over HTTP/1.1", () => sseLockstep(h1, ["--http1.1"]));
  test("sends event k+1 only after releaseNext(), over h2", () => sseLockstep(h2, ["--http2"]));

  test("a release made before the stream asks is banked, not lost", async () => {
    const base = h1.sseSent;
    h1.releaseNext();
    const r = await curl(["--cacert", pki.caFile, `${h1.url()}/sse?n=2`]);
    expect(r.stdout).toContain("id: 2");
    expect(h1.sseSent).toBe(base + 2);
  });

  test("a stream whose client left does not swallow the release meant for the next stream", async () => {
    const origin = await startHttpsOrigin({ pki, name: "sse-left" });
    const gone = streamingCurl(["--cacert", pki.caFile, `${origin.url()}/sse?n=2`]);
    await gone.until("id: 1");
    expect(origin.openSse).toBe(1);
    await gone.kill();
    await origin.until(() => origin.openSse === 0);
    const live = streamingCurl(["--cacert", pki.caFile, `${origin.url()}/sse?n=2`]);
    await live.until("id: 1");
    await origin.waitForSseSent(2);
    origin.releaseNext();
    await live.until('data: {"k":2,"of":2}');
    expect(await live.exited).toBe(0);
    expect(origin.sseSent).toBe(3);
    await origin.close();
  });
});

describe("/stream-until-abort", () => {
  test("a client that drops the HTTP/1.1 connection resolves aborted at the origin", async () => {
    const origin = await startHttpsOrigin({ pki, name: "abort-h1" });
    const client = streamingCurl(["--cacert", pki.caFile, `${origin.url()}/stream-until-abort`]);
    await client.until("started\n");
    expect(origin.openStreams).toBe(1);
    expect(origin.aborts).toBe(0);
    await client.kill();
    const entry = await withTimeout(origin.aborted, 3000, "abort at the origin");
    expect(entry.path).toBe("/stream-until-abort");
    expect(origin.openStreams).toBe(0);
    await origin.close();
  });

  test("an h2 client that resets only the stream (session kept open) resolves aborted", async () => {
    const origin = await startHttpsOrigin({ pki, alpn: ["h2"], name: "abort-h2" });
    const session = h2connect(origin.url(), { ca: pki.caPem });
    try {
      const req = session.request({ ":path": "/stream-until-abort" });
      const first = deferred<string>();
      req.on("data", (c: Buffer) => first.resolve(c.toString()));
      req.on("error", () => undefined);
      expect(await withTimeout(first.promise, 3000, "first chunk")).toBe("started\n");
      expect(origin.aborts).toBe(0);
      req.close();
      await origin.waitForAborts(1, 3000);
      expect(session.closed).toBe(false);
      expect(origin.openStreams).toBe(0);
    } finally {
      session.destroy();
      await origin.close();
    }
  });
});

describe("/ws", () => {
  async function echoOverWebSocket(origin: EchoOrigin): Promise<void> {
    const before = origin.requests.length;
    const ws = new WebSocket(`${origin.url().replace("https", "wss")}/ws?room=1`, { tls: { ca: pki.caPem }, headers: { "X-Upgrade-Test": "yes" } });
    const opened = deferred<void>();
    const messages: string[] = [];
    const got = deferred<void>();
    const closed = deferred<number>();
    ws.onopen = () => opened.resolve();
    ws.onerror = (e) => opened.reject(new Error(`websocket error ${String(e)}`));
    ws.onmessage = (m) => {
      messages.push(String(m.data));
      if (messages.length === 2) got.resolve();
    };
    ws.onclose = (c) => closed.resolve(c.code);
    await withTimeout(opened.promise, 3000, "websocket open");
    ws.send("hello");
    ws.send("x".repeat(70_000));
    await withTimeout(got.promise, 3000, "two echoes");
    expect(messages[0]).toBe("hello");
    expect(messages[1]).toBe("x".repeat(70_000));
    ws.close(1000, "done");
    expect(await withTimeout(closed.promise, 3000, "websocket close")).toBe(1000);
    const upgrade = origin.requests[before];
    expect(upgrade).toMatchObject({ method: "GET", path: "/ws?room=1", upgrade: true, httpVersion: "1.1", alpn: "http/1.1" });
    expect(upgrade?.headers["x-upgrade-test"]).toBe("yes");
    expect(upgrade?.headers.upgrade).toBe("websocket");
    expect(typeof upgrade?.headers["sec-websocket-key"]).toBe("string");
    expect(origin.wsMessages.slice(-2)).toEqual(["hello", "x".repeat(70_000)]);
  }

  test("a WebSocket echoes text frames and records the upgrade request (node:https origin)", () => echoOverWebSocket(h1));
  test("a WebSocket works on the h2 origin too, over its HTTP/1.1 side", () => echoOverWebSocket(h2));

  test("an upgrade to another path is refused with 404", async () => {
    const r = await curl(["--cacert", pki.caFile, "--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket", `${h1.url()}/nope`]);
    expect(r.stdout).toBe("404");
  });
});

describe("plain HTTP origin", () => {
  test("echoes the same record over http://", async () => {
    const origin = await startHttpOrigin({ name: "plain" });
    const res = await fetch(`${origin.url()}/p?q=1`, { method: "PUT", body: "data", headers: { "X-Repeat": "a" } });
    const got = (await res.json()) as RecordedRequest;
    expect(got).toMatchObject({ origin: "plain", method: "PUT", path: "/p?q=1", httpVersion: "1.1", body: "data", alpn: null });
    expect(got.headers["x-repeat"]).toBe("a");
    await origin.close();
  });
});

describe("close()", () => {
  test("closes kept-alive connections and open streams, and stops listening", async () => {
    const origin = await startHttpsOrigin({ pki, alpn: ["h2", "http/1.1"], name: "closing" });
    const session = h2connect(origin.url(), { ca: pki.caPem });
    const sessionClosed = deferred<void>();
    session.on("close", () => sessionClosed.resolve());
    session.on("error", () => undefined);
    const req = session.request({ ":path": "/stream-until-abort" });
    req.on("error", () => undefined);
    const first = deferred<void>();
    req.once("data", () => first.resolve());
    await withTimeout(first.promise, 3000, "first chunk");
    const sse = streamingCurl(["--cacert", pki.caFile, `${origin.url()}/sse?n=5`]);
    await sse.until("id: 1");
    await withTimeout(origin.close(), 3000, "origin close");
    await withTimeout(sessionClosed.promise, 3000, "h2 session closed by the origin");
    await withTimeout(sse.exited, 3000, "curl ended by the origin");
    const refused = deferred<string>();
    const probe = netConnect(origin.port, "127.0.0.1");
    probe.on("connect", () => refused.resolve("connected"));
    probe.on("error", (e: NodeJS.ErrnoException) => refused.resolve(e.code ?? "error"));
    expect(await withTimeout(refused.promise, 3000, "probe")).toBe("ECONNREFUSED");
    probe.destroy();
  });
});
