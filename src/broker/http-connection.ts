/**
 * The small HTTP/1.1 server the broker speaks on each accepted unix-socket connection: GET and
 * HEAD, keep-alive, pipelining (answered in order, one handler at a time), no request bodies,
 * headers capped at 16 KiB. The listener (unix-server.ts) owns the socket and the peer check;
 * this file owns the bytes: it reads requests from the chunks it is given and writes answers
 * through an `HttpTransport`, which a Bun socket is and a test can fake.
 *
 * A connection serves nothing until it is admitted: every request on a refused (or not yet
 * judged) connection gets one 403 JSON answer and the connection is closed.
 */
import { JSON_HEADERS } from "../http/json.ts";
import type { Logger } from "../log.ts";
import type { PeerCred } from "../net/peer-credentials.ts";

/** The part of a Bun socket a connection writes through. */
export interface HttpTransport {
  /** Writes what it can and returns how many bytes that was; negative once the socket is closed. */
  write(bytes: Uint8Array): number;
  /** Closes once everything written has been flushed. */
  end(): void;
  /** Closes at once, dropping anything unsent. */
  terminate(): void;
  /** (Re)arms the idle timeout. */
  timeout(seconds: number): void;
}

export interface HttpConnectionOptions {
  /** Answers a GET (or HEAD) from an admitted peer; `path` is the raw request path, query removed. */
  readonly handle: (path: string, peer: PeerCred) => Response | Promise<Response>;
  readonly logger: Logger;
  /** The connection is closed after this long without traffic. */
  readonly idleTimeoutSeconds: number;
}

export type ParsedRequest = { method: string; path: string; keepAlive: boolean };

/** Headers larger than this are refused with 431 (the requests we serve are a few hundred bytes). */
const MAX_HEAD_BYTES = 16 * 1024;
/** A client that pipelines requests without reading the answers is cut off beyond this. */
const MAX_PENDING_OUTPUT = 1024 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n");
const REASONS: Readonly<Record<number, string>> = {
  200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
};

/**
 * One connection's request loop. The listener feeds it the socket's events; it arms the idle
 * timeout on construction.
 *
 * @example
 * open(socket) { socket.data = new HttpConnection(socket, { handle, logger, idleTimeoutSeconds: 30 }); socket.data.admit(peer); },
 * data(socket, chunk) { socket.data.receive(chunk); },
 */
export class HttpConnection {
  readonly #transport: HttpTransport;
  readonly #options: HttpConnectionOptions;
  /** Who is at the other end, for logs; known even when refused. */
  #peer: PeerCred | undefined;
  #admitted = false;
  /** Why this peer is refused; undefined when it is admitted or not yet judged. */
  #refusal: string | undefined;
  #input: Buffer = Buffer.alloc(0);
  /** A handler is running: later pipelined requests wait in `#input`. */
  #busy = false;
  #pending: Uint8Array | undefined;
  /** This side decided to close once the output is flushed. */
  #closeAfterFlush = false;
  /** The client shut down its side: answer the complete requests already read, then close. */
  #inputEnded = false;
  #closed = false;

  constructor(transport: HttpTransport, options: HttpConnectionOptions) {
    this.#transport = transport;
    this.#options = options;
    transport.timeout(options.idleTimeoutSeconds);
  }

  /** The peer's requests go to `handle` from now on. */
  admit(peer: PeerCred): void {
    this.#peer = peer;
    this.#admitted = true;
    this.#refusal = undefined;
  }

  /** Every request gets a 403 naming `reason`; `peer` is for logs, undefined when it could not be read. */
  refuse(reason: string, peer: PeerCred | undefined): void {
    this.#peer = peer;
    this.#admitted = false;
    this.#refusal = reason;
  }

  /** Bytes from the client. */
  receive(chunk: Uint8Array): void {
    // Copied: the chunk's memory belongs to Bun once its callback returns.
    this.#input = this.#input.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#input, chunk]);
    this.#transport.timeout(this.#options.idleTimeoutSeconds);
    this.#pump();
  }

  /** The transport can take more output. */
  drain(): void {
    const pending = this.#pending;
    if (!pending || this.#closed) return;
    this.#pending = undefined;
    this.#write(pending);
    this.#finishIfDone();
  }

  /** The client will send nothing more: answer what is in progress, then close. */
  endOfInput(): void {
    this.#inputEnded = true;
    this.#finishIfDone();
  }

  timedOut(): void {
    this.#closed = true;
    this.#transport.end();
  }

  /** The transport is gone; nothing more is written. */
  closed(): void {
    this.#closed = true;
  }

  failed(error: Error): void {
    this.#closed = true;
    this.#options.logger.debug("connection error", { pid: this.#peer?.pid, error: error.message });
  }

  #write(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#pending) {
      if (this.#pending.length + bytes.length > MAX_PENDING_OUTPUT) {
        this.#closed = true;
        this.#transport.terminate();
        return;
      }
      this.#pending = Buffer.concat([this.#pending, bytes]);
      return;
    }
    const written = this.#transport.write(bytes);
    if (written < 0) this.#closed = true;
    else if (written < bytes.length) this.#pending = Buffer.from(bytes.subarray(written));
  }

  #finishIfDone(): void {
    if ((this.#closeAfterFlush || this.#inputEnded) && !this.#pending && !this.#busy && !this.#closed) {
      this.#closed = true;
      this.#transport.end();
    }
  }

  #respond(status: number, body: Uint8Array, headers: Record<string, string>, keepAlive: boolean, head: boolean): void {
    let text = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
    for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
    text += `content-length: ${body.length}\r\nconnection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`;
    const start = Buffer.from(text, "latin1");
    this.#write(head || body.length === 0 ? start : Buffer.concat([start, body]));
    if (!keepAlive) this.#closeAfterFlush = true;
    this.#transport.timeout(this.#options.idleTimeoutSeconds);
  }

  #respondJson(status: number, code: string, message: string, keepAlive: boolean, headers: Record<string, string> = {}): void {
    this.#respond(status, Buffer.from(JSON.stringify({ Code: code, Message: message })), { ...JSON_HEADERS, ...headers }, keepAlive, false);
  }

  async #serve(request: ParsedRequest, peer: PeerCred): Promise<void> {
    const { logger } = this.#options;
    const started = performance.now();
    let response: Response;
    try {
      response = await this.#options.handle(request.path, peer);
    } catch (error) {
      logger.error("request handler failed", { error: error instanceof Error ? error.message : String(error), path: request.path });
      response = Response.json({ Code: "InternalError", Message: "internal error" }, { status: 500, headers: JSON_HEADERS });
    }
    const body = new Uint8Array(await response.arrayBuffer());
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name !== "content-length" && name !== "connection" && name !== "transfer-encoding") headers[name] = value;
    });
    this.#respond(response.status, body, headers, request.keepAlive, request.method === "HEAD");
    if (logger.enabled("debug")) {
      logger.debug("request", { pid: peer.pid, uid: peer.uid, method: request.method, path: request.path, status: response.status, duration_ms: Math.round((performance.now() - started) * 100) / 100 });
    }
  }

  #pump(): void {
    while (!this.#busy && !this.#closeAfterFlush && !this.#closed) {
      const end = this.#input.indexOf(HEAD_END);
      if (end < 0 || end > MAX_HEAD_BYTES) {
        if (end > MAX_HEAD_BYTES || this.#input.length > MAX_HEAD_BYTES) this.#respondJson(431, "RequestTooLarge", "request headers are too large", false);
        break;
      }
      const head = this.#input.subarray(0, end).toString("latin1");
      this.#input = this.#input.subarray(end + HEAD_END.length);
      const request = parseRequestHead(head);
      const peer = this.#peer;
      // A refused peer learns nothing else, not even whether its request parsed.
      if (!this.#admitted || !peer) {
        this.#respondJson(403, "AccessDenied", `this broker does not serve this process: ${this.#refusal ?? "unknown peer"}`, false);
      } else if ("error" in request) {
        this.#respondJson(400, "BadRequest", request.error, false);
      } else if (request.method !== "GET" && request.method !== "HEAD") {
        this.#respondJson(405, "MethodNotAllowed", `${request.method} is not supported`, request.keepAlive, { allow: "GET, HEAD" });
      } else {
        this.#busy = true;
        this.#serve(request, peer)
          .catch((error: unknown) => {
            // Only a body that cannot be read gets here; the connection is beyond saving.
            this.#options.logger.error("cannot send a response", { error: error instanceof Error ? error.message : String(error), path: request.path });
            this.#closed = true;
            this.#transport.terminate();
          })
          .finally(() => {
            this.#busy = false;
            this.#pump();
          });
      }
    }
    this.#finishIfDone();
  }
}

/**
 * The request line and headers (RFC 9112), as much as this server needs. Anything announcing
 * a body is refused: the routes take none, and not reading one keeps the parser this small.
 */
export function parseRequestHead(head: string): ParsedRequest | { error: string } {
  const lines = head.replace(/^(\r\n)+/, "").split("\r\n");
  const line = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0] ?? "");
  if (!line) return { error: "malformed request line" };
  const [, method, target, minor] = line as unknown as [string, string, string, string];
  let connection = "";
  for (const header of lines.slice(1)) {
    const colon = header.indexOf(":");
    if (colon <= 0 || /^[ \t]/.test(header)) return { error: "malformed header line" };
    const name = header.slice(0, colon).toLowerCase();
    const value = header.slice(colon + 1).trim();
    if (name === "transfer-encoding" || (name === "content-length" && value !== "0")) return { error: "request bodies are not accepted" };
    if (name === "connection") connection += `,${value.toLowerCase()}`;
  }
  let path: string;
  if (target.startsWith("/")) {
    path = target.split(/[?#]/, 1)[0]!;
  } else if (/^http:\/\//i.test(target)) {
    try {
      path = new URL(target).pathname;
    } catch {
      return { error: "malformed request target" };
    }
  } else {
    return { error: "malformed request target" };
  }
  const tokens = connection.split(",").map((t) => t.trim());
  const keepAlive = minor === "1" ? !tokens.includes("close") : tokens.includes("keep-alive");
  return { method, path, keepAlive };
}
