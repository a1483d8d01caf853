/**
 * Listening for test origins: 127.0.0.1, a port the OS picks, and every connection (and h2
 * session) tracked so that stopping never waits on a kept-alive client or an open stream.
 */
import type { Server as HttpServer } from "node:http";
import { createSecureServer, type Http2Session } from "node:http2";
import type { Duplex } from "node:stream";
import type { Server as TlsServer } from "node:tls";
import { deferred } from "./wait.ts";

export type Listening = HttpServer | TlsServer | ReturnType<typeof createSecureServer>;

/** Listens on 127.0.0.1:0, tracks every connection so close() never waits on a keep-alive. */
export async function listenTracked(server: Listening): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Duplex>();
  const sessions = new Set<Http2Session>();
  const track = (s: Duplex): void => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  };
  server.on("connection", track);
  server.on("secureConnection", track);
  server.on("session", (s: Http2Session) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  // A client that resets mid-handshake is its own problem, not the test process's.
  server.on("tlsClientError", () => undefined);
  const ready = deferred<void>();
  server.once("error", (err: Error) => ready.reject(err));
  server.listen({ host: "127.0.0.1", port: 0 }, () => ready.resolve());
  await ready.promise;
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error(`unexpected listen address ${String(address)}`);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    });
    return stopped;
  };
  return { port: address.port, stop };
}

