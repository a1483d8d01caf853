/**
 * The proxy port and -L forwards of `tunnel socks` with real clients (curl, a raw socket),
 * over a client StreamMux joined in memory to an agent mux whose streams the real dialer
 * connects (--allow-cidr 127.0.0.1/32 so loopback may be dialled here). The tunnel's sessions
 * are the e2e test's business (test/e2e/tunnel-socks.test.ts).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { streamDialer } from "../../src/agent/stream-dialer.ts";
import { parseCidr, type Cidr } from "../../src/net/cidr.ts";
import { startForwardListener, startProxyListener, type StreamListener } from "../../src/tunnel/socks/stream-listeners.ts";
import { decodeStreamBody } from "../../src/tunnel/streams/stream-frames.ts";
import { StreamMux } from "../../src/tunnel/streams/stream-mux.ts";
import { curl } from "../helpers/curl.ts";
import { withTimeout } from "../helpers/wait.ts";

const allow = [parseCidr("127.0.0.1/32") as Cidr];
const resolve = async (name: string) => (name === "web.vpc.invalid" ? ["127.0.0.1"] : Promise.reject(Object.assign(new Error("no"), { code: "ENOTFOUND" })));

function joinedMuxes(): StreamMux {
  let agent: StreamMux | undefined;
  const client: StreamMux = new StreamMux({
    role: "client",
    sink: { write: (frame) => (queueMicrotask(() => agent!.receive(decodeStreamBody(frame[2]!, frame.subarray(3)))), true) },
  });
  agent = new StreamMux({
    role: "agent",
    sink: { write: (frame) => (queueMicrotask(() => client.receive(decodeStreamBody(frame[2]!, frame.subarray(3)))), true) },
    onOpen: streamDialer({ allowCidrs: allow, resolve }),
  });
  return client;
}

const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`hello from the vpc: ${new URL(req.url).pathname}`) });
const listeners: StreamListener[] = [];
afterAll(async () => {
  await Promise.all(listeners.map((l) => l.close()));
  origin.stop(true);
});

async function proxy(): Promise<StreamListener> {
  const mux = joinedMuxes();
  const listener = await startProxyListener("127.0.0.1", 0, { open: (t) => mux.open(t) });
  listeners.push(listener);
  return listener;
}

describe("tunnel socks listeners", () => {
  test("curl --socks5-hostname reaches the origin by a name only the agent resolves", async () => {
    const p = await proxy();
    const r = await curl(["--socks5-hostname", `127.0.0.1:${p.port}`, `http://web.vpc.invalid:${origin.port}/a`]);
    expect(r).toMatchObject({ code: 0, stdout: "hello from the vpc: /a" });
  });

  test("curl -p (HTTP CONNECT) reaches the origin on the same port", async () => {
    const p = await proxy();
    const r = await curl(["-p", "-x", `http://127.0.0.1:${p.port}`, `http://127.0.0.1:${origin.port}/connect`]);
    expect(r).toMatchObject({ code: 0, stdout: "hello from the vpc: /connect" });
  });

  test("a refusal is a SOCKS reply code and an HTTP status with the agent's reason", async () => {
    const p = await proxy();
    const socks = await curl(["--socks5-hostname", `127.0.0.1:${p.port}`, "http://127.0.0.2:80/"]);
    expect(socks.code).not.toBe(0);
    // curl names the SOCKS reply code: 2, "connection not allowed by ruleset".
    expect(socks.stderr).toMatch(/\(2\)/);
    const http = await curl(["-p", "-x", `http://127.0.0.1:${p.port}`, "-v", "http://127.0.0.2:80/"]);
    expect(http.code).not.toBe(0);
    expect(http.stderr).toContain("403");
    expect(http.stderr).toContain("X-Credproxy-Error: 127.0.0.2 is not allowed: the agent allows 127.0.0.1/32");
  });

  test("a plain GET to the proxy port gets a 405 that says it only tunnels", async () => {
    const p = await proxy();
    const r = await curl(["-x", `http://127.0.0.1:${p.port}`, "-i", `http://127.0.0.1:${origin.port}/`]);
    expect(r.stdout).toContain("405 Method Not Allowed");
    expect(r.stdout).toContain("only tunnels");
  });

  test("a SOCKS5 request pipelined behind the greeting, to an IPv4 address, works", async () => {
    const p = await proxy();
    const socket = connect(p.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    await new Promise((r) => socket.once("connect", r));
    const port = origin.port!;
    socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]));
    socket.write("GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await withTimeout(new Promise((r) => socket.once("end", r)), 5000, "the response");
    const all = Buffer.concat(chunks);
    expect([...all.subarray(0, 2)]).toEqual([5, 0]);
    expect([...all.subarray(2, 4)]).toEqual([5, 0]);
    expect(all.toString("latin1")).toContain("hello from the vpc: /raw");
    socket.destroy();
  });

  test("an -L forward sends every connection to its fixed destination", async () => {
    const mux = joinedMuxes();
    const forward = await startForwardListener("127.0.0.1", 0, "web.vpc.invalid", origin.port!, { open: (t) => mux.open(t) });
    listeners.push(forward);
    const r = await curl([`http://127.0.0.1:${forward.port}/forwarded`]);
    expect(r).toMatchObject({ code: 0, stdout: "hello from the vpc: /forwarded" });
  });

  test("with no session up, SOCKS says general failure and CONNECT says 503", async () => {
    const listener = await startProxyListener("127.0.0.1", 0, { open: () => undefined });
    listeners.push(listener);
    const socks = await curl(["--socks5-hostname", `127.0.0.1:${listener.port}`, `http://127.0.0.1:${origin.port}/`]);
    expect(socks.code).not.toBe(0);
    const http = await curl(["-p", "-x", `http://127.0.0.1:${listener.port}`, "-v", `http://127.0.0.1:${origin.port}/`]);
    expect(http.stderr).toContain("503");
  });
});
