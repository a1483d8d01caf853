import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";
import { createLogger, type Logger } from "../../log.ts";
import type { PeerCred } from "../../net/peer-credentials.ts";
import { CredproxyError } from "../../errors.ts";
import { PeerPolicy, procProcessTable } from "./peer-policy.ts";
import { startUnixServer, type UnixServer, type UnixServerOptions } from "./unix-server.ts";
import { ownUid } from "./socket-path.ts";

const servers: UnixServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop();
});

function capturingLogger(): Logger & { records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", write: (line) => records.push(JSON.parse(line) as Record<string, unknown>) });
  return Object.assign(logger, { records });
}

const FAKE_PEER: PeerCred = { pid: 4242, uid: 1000, gid: 1000 };

async function start(overrides: Partial<UnixServerOptions> = {}): Promise<UnixServer & { logger: ReturnType<typeof capturingLogger> }> {
  const logger = capturingLogger();
  const server = await startUnixServer({
    path: join(tempDirSync("credproxy-unix-"), "broker.sock"),
    authorize: () => ({ allowed: true }),
    handle: (path, peer) => Response.json({ path, pid: peer.pid }, { headers: { "cache-control": "no-store" } }),
    getPeer: () => FAKE_PEER,
    logger,
    ...overrides,
  });
  servers.push(server);
  return Object.assign(server, { logger });
}

/** Writes `request` on a fresh connection and returns everything the server sent until it closed. */
function exchange(path: string, request: string, { halfClose = false } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    let received = "";
    socket.on("data", (chunk) => (received += chunk.toString("latin1")));
    socket.on("end", () => resolve(received));
    socket.on("close", () => resolve(received));
    socket.on("error", reject);
    socket.on("connect", () => {
      socket.write(request);
      if (halfClose) socket.end();
    });
  });
}

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;

describe("startUnixServer", () => {
  test("the socket is mode 0600 and its directory 0700 as soon as start returns", async () => {
    const server = await start();
    const stats = lstatSync(server.path);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o600);
    expect(stats.uid).toBe(ownUid());
    expect(lstatSync(join(server.path, "..")).mode & 0o777).toBe(0o700);
  });

  test("the umask is restored after the bind", async () => {
    const before = process.umask();
    await start();
    expect(process.umask()).toBe(before);
  });

  test("answers GET over fetch({ unix }), keeping the connection alive between requests", async () => {
    const server = await start();
    for (let i = 0; i < 3; i++) {
      const res = await fetch("http://localhost/role-arn/x", { unix: server.path });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toEqual({ path: "/role-arn/x", pid: 4242 });
    }
    expect(server.logger.records.filter((r) => r.msg === "accepted a connection").length).toBe(1);
  });

  test("pipelined requests are answered in order on one connection", async () => {
    const server = await start({
      handle: async (path) => {
        await Bun.sleep(path === "/a" ? 20 : 0); // the slow first one must still come first
        return Response.json({ path });
      },
    });
    const out = await exchange(server.path, GET("/a") + GET("/b") + GET("/c", "Connection: close\r\n"));
    const bodies = [...out.matchAll(/\{"path":"(\/\w)"\}/g)].map((m) => m[1]);
    expect(bodies).toEqual(["/a", "/b", "/c"]);
    expect(out.match(/HTTP\/1\.1 200 OK/g)?.length).toBe(3);
  });

  test("a request followed by a half-close is still answered", async () => {
    const server = await start();
    const out = await exchange(server.path, GET("/"), { halfClose: true });
    expect(out).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(out).toContain('{"path":"/","pid":4242}');
  });

  test("a refused peer gets one 403 JSON answer, the connection is closed, and the refusal is logged with pid and uid", async () => {
    let handled = 0;
    const server = await start({
      authorize: (peer) => ({ allowed: false, reason: `uid ${peer.uid} is not allowed (allowed: 0)` }),
      handle: () => {
        handled++;
        return new Response("secret");
      },
    });
    const out = await exchange(server.path, GET("/") + GET("/"));
    expect(out).toStartWith("HTTP/1.1 403 Forbidden\r\n");
    expect(out).toContain("connection: close");
    expect(out.match(/HTTP\/1\.1/g)?.length).toBe(1);
    const body = JSON.parse(out.slice(out.indexOf("\r\n\r\n") + 4)) as { Code: string; Message: string };
    expect(body.Code).toBe("AccessDenied");
    expect(body.Message).toContain("uid 1000 is not allowed");
    expect(handled).toBe(0);
    const record = server.logger.records.find((r) => r.msg === "refused a connection");
    expect(record).toMatchObject({ level: "warn", pid: 4242, uid: 1000, gid: 1000 });
  });

  test("a refused peer gets 403 even for a malformed request", async () => {
    const server = await start({ authorize: () => ({ allowed: false, reason: "no" }) });
    expect(await exchange(server.path, "NONSENSE\r\n\r\n")).toStartWith("HTTP/1.1 403 Forbidden");
  });

  test("when the peer credentials cannot be read the connection is refused (fail closed)", async () => {
    const server = await start({
      getPeer: () => {
        throw new CredproxyError("E_PLATFORM", "no peer credentials here");
      },
    });
    expect(await exchange(server.path, GET("/"))).toStartWith("HTTP/1.1 403 Forbidden");
    expect(server.logger.records.some((r) => r.level === "error" && String(r.msg).includes("cannot read its peer credentials"))).toBe(true);
  });

  test("with the real SO_PEERCRED the peer is this very process", async () => {
    const seen: PeerCred[] = [];
    const server = await start({
      getPeer: undefined,
      authorize: (peer) => {
        seen.push(peer);
        return PeerPolicy.create({}, ownUid()).check(peer, procProcessTable());
      },
    });
    const res = await fetch("http://localhost/", { unix: server.path });
    expect(res.status).toBe(200);
    expect(seen[0]).toEqual({ pid: process.pid, uid: ownUid(), gid: process.getgid!() });
  });

  test("HEAD gets the headers and no body; other methods get 405 with Allow", async () => {
    const server = await start();
    const head = await exchange(server.path, `HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n`);
    expect(head).toStartWith("HTTP/1.1 200 OK");
    expect(head.endsWith("\r\n\r\n")).toBe(true);
    expect(head).toMatch(/content-length: [1-9]/);
    const del = await exchange(server.path, `DELETE / HTTP/1.1\r\nConnection: close\r\n\r\n`);
    expect(del).toStartWith("HTTP/1.1 405 Method Not Allowed");
    expect(del).toContain("allow: GET, HEAD");
  });

  test("requests with a body, malformed requests and oversized headers are refused and the connection closed", async () => {
    const server = await start();
    expect(await exchange(server.path, `POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello`)).toStartWith("HTTP/1.1 400 Bad Request");
    expect(await exchange(server.path, `GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`)).toContain("request bodies are not accepted");
    expect(await exchange(server.path, `GET /\r\n\r\n`)).toStartWith("HTTP/1.1 400 Bad Request");
    expect(await exchange(server.path, `GET / HTTP/1.1\r\nX: ${"a".repeat(20_000)}\r\n\r\n`)).toStartWith("HTTP/1.1 431");
  });

  test("a handler that throws gives 500 JSON without details", async () => {
    const server = await start({
      handle: () => {
        throw new Error("boom with internals");
      },
    });
    const res = await fetch("http://localhost/", { unix: server.path });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ Code: "InternalError", Message: "internal error" });
  });

  test("stop() removes the socket file", async () => {
    const server = await start();
    server.stop();
    expect(existsSync(server.path)).toBe(false);
  });

  test("stop() leaves alone a file that has replaced the socket", async () => {
    const server = await start();
    renameSync(server.path, server.path + ".old");
    writeFileSync(server.path, "not ours");
    server.stop();
    expect(readFileSync(server.path, "utf8")).toBe("not ours");
    expect(server.logger.records.some((r) => r.msg === "left the socket path alone: it is no longer this broker's socket")).toBe(true);
  });

  test("a second server on a live socket is refused and the first keeps serving", async () => {
    const first = await start();
    const error = await startUnixServer({ path: first.path, authorize: () => ({ allowed: true }), handle: () => new Response(""), logger: capturingLogger() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredproxyError);
    expect((error as CredproxyError).message).toContain("another process is listening on it");
    expect((await fetch("http://localhost/", { unix: first.path })).status).toBe(200);
  });

  test("a regular file at the path is refused and kept", async () => {
    const path = join(tempDirSync("credproxy-unix-"), "broker.sock");
    writeFileSync(path, "keep me");
    const error = await startUnixServer({ path, authorize: () => ({ allowed: true }), handle: () => new Response(""), logger: capturingLogger() }).catch((e: unknown) => e);
    expect((error as CredproxyError).code).toBe("E_LISTEN");
    expect(readFileSync(path, "utf8")).toBe("keep me");
  });
});
