/**
 * The head of an HTTP CONNECT request (RFC 9110 §9.3.6), read from the bytes as they arrive:
 * `CONNECT host:port HTTP/1.1`, headers ignored, at most 8 KiB. Any other method gets a 405
 * that says this proxy only tunnels (plain-HTTP proxying would need the agent to speak HTTP).
 */
import type { StreamTarget } from "../streams/stream-mux.ts";
import { streamAddressOf } from "./stream-address.ts";

const MAX_HEAD_BYTES = 8192;

export type ConnectStep =
  | { readonly kind: "more" }
  | { readonly kind: "reply"; readonly reply: Uint8Array; readonly close: true }
  | { readonly kind: "connect"; readonly target: StreamTarget; readonly rest: Uint8Array };

export class HttpConnectRequest {
  private buffer = new Uint8Array(0);

  push(chunk: Uint8Array): ConnectStep {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    this.buffer = joined;
    const end = indexOfHeadEnd(joined);
    if (end < 0) return joined.length > MAX_HEAD_BYTES ? refuse(431, "Request Header Fields Too Large", "the request head is over 8 KiB") : { kind: "more" };
    const head = new TextDecoder().decode(joined.subarray(0, end));
    const rest = joined.slice(end + 4);
    const line = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(head.split("\r\n", 1)[0] ?? "");
    if (!line) return refuse(400, "Bad Request", "not an HTTP/1.x request line");
    if (line[1] !== "CONNECT") {
      return refuse(405, "Method Not Allowed", `credproxy tunnel socks only tunnels: use it as an HTTPS proxy (CONNECT, e.g. curl -p -x http://HOST:PORT) or as SOCKS5; ${line[1]} is not proxied`);
    }
    const target = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(line[2]!);
    const port = target ? Number(target[3]) : 0;
    const address = target ? streamAddressOf((target[1] ?? target[2])!) : undefined;
    if (!target || address === undefined || port < 1 || port > 65535) return refuse(400, "Bad Request", `CONNECT needs HOST:PORT, not ${JSON.stringify(line[2])}`);
    return { kind: "connect", target: { address, port }, rest };
  }
}

export function connectEstablished(): Uint8Array {
  return new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n");
}

/** An error response that closes the connection; `text` also goes in X-Credproxy-Error for tools that hide bodies. */
export function httpError(status: number, reason: string, text: string): Uint8Array {
  const body = text + "\n";
  const safe = text.replace(/[^\x20-\x7e]/g, "?");
  return new TextEncoder().encode(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${new TextEncoder().encode(body).length}\r\nX-Credproxy-Error: ${safe}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function refuse(status: number, reason: string, text: string): ConnectStep {
  return { kind: "reply", reply: httpError(status, reason, text), close: true };
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}
