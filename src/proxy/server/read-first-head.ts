/**
 * Reads the first request head a client sends the proxy, on the raw socket, before anything is
 * decided: bounded in size (431 past max_header_bytes) and in time (a client that opens a
 * connection and says nothing is dropped after the handshake timeout), so no input can stall
 * the listener or make it buffer without limit. The bytes after the head stay with the caller:
 * a CONNECT client may already have sent its TLS ClientHello, a plain request its body.
 */
import type { Socket } from "node:net";
import { HeadReader } from "../../http/head-reader.ts";

export type FirstHead =
  | { readonly head: string; readonly rest: Buffer }
  | { readonly error: "too large" | "bare LF" | "timeout" | "closed" };

/** With sniffTls: the client opened with a TLS record (0x16), not a request line (TLS to the proxy itself). */
export type TlsOpening = { readonly tls: Buffer };

const TLS_HANDSHAKE = 0x16;

export function readFirstHead(socket: Socket, options: { maxBytes: number; timeoutMs: number; sniffTls: true }): Promise<FirstHead | TlsOpening>;
export function readFirstHead(socket: Socket, options: { maxBytes: number; timeoutMs: number }): Promise<FirstHead>;
export function readFirstHead(socket: Socket, options: { maxBytes: number; timeoutMs: number; sniffTls?: boolean }): Promise<FirstHead | TlsOpening> {
  const reader = new HeadReader();
  let first = true;
  return new Promise((resolve) => {
    const finish = (result: FirstHead | TlsOpening): void => {
      clearTimeout(timer);
      socket.off("readable", onReadable).off("end", onClosed).off("close", onClosed).off("error", onClosed);
      resolve(result);
    };
    // Paused-mode reads, never 'data': bytes given back with unshift() then stay in the
    // socket's buffer for the next reader (a TLSSocket, node:http) instead of being emitted
    // to no one, which is what happens to a flowing stream in Bun.
    const onReadable = (): void => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        if (first && options.sniffTls && chunk[0] === TLS_HANDSHAKE) return finish({ tls: chunk });
        first = false;
        reader.push(chunk);
        const next = reader.next(options.maxBytes);
        if (next === undefined) continue;
        if ("error" in next) return finish({ error: next.error });
        return finish({ head: next.head, rest: reader.takeRest() });
      }
    };
    const onClosed = (): void => finish({ error: "closed" });
    const timer = setTimeout(() => finish({ error: "timeout" }), options.timeoutMs);
    socket.on("readable", onReadable).once("end", onClosed).once("close", onClosed).once("error", onClosed);
    onReadable();
  });
}
