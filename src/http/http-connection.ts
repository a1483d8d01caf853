/**
 * The small HTTP/1.1 server the broker speaks on each accepted unix-socket connection: GET and
 * HEAD, keep-alive, pipelining (answered in order, one handler at a time), no request bodies,
 * headers capped at 16 KiB. The listener (unix-server.ts) owns the socket and the peer check;
 * this file owns the bytes: it reads requests from the chunks it is given and writes answers
 * through an `HttpTransport`, which a Bun socket is and a test can fake.
 *
 * What one connection can hold is bounded: 64 KiB of unread input (a client that keeps sending
 * while a handler runs is cut off), 1 MiB of unsent output (one that pipelines without reading
 * is cut off), and time: a request head must be complete 30 s after its first byte (after the
 * connection opened, for the first) however it trickles in, and a connection with no request
 * begun is closed after 30 s idle. Nothing times out while a handler runs (it may wait on STS).
 *
 * A connection serves nothing until it is admitted: every request on a refused (or not yet
 * judged) connection gets one 403 JSON answer and the connection is closed.
 */
import { JSON_HEADERS } from "./json.ts";
import type { Logger } from "../log.ts";
import type { PeerCred } from "../net/peer-credentials.ts";
import { HeadReader } from "./head-reader.ts";
import { parseRequestHead, type ParsedRequest } from "./parse-request-head.ts";

/** The part of a Bun socket a connection writes through. */
export interface HttpTransport {
  /** Writes what it can and returns how many bytes that was; negative once the socket is closed. */
  write(bytes: Uint8Array): number;
  /** Closes once everything written has been flushed. */
  end(): void;
  /** Closes at once, dropping anything unsent. */
  terminate(): void;
}

export interface HttpConnectionOptions {
  /** Answers a GET (or HEAD) from an admitted peer; `path` is the raw request path, query removed. */
  readonly handle: (path: string, peer: PeerCred) => Response | Promise<Response>;
  readonly logger: Logger;
  /** A connection with no request begun is closed after this long; not while a handler runs. Default 30 s. */
  readonly idleTimeoutSeconds?: number | undefined;
  /** A request head must be complete this long after its first byte (after the connection opened, for the first); more bytes do not extend it. Default 30 s. */
  readonly headTimeoutSeconds?: number | undefined;
}

/** Headers larger than this are refused with 431 (the requests we serve are a few hundred bytes). */
const MAX_HEAD_BYTES = 16 * 1024;
/** Unread input beyond this (a head at the cap and a few more behind it) while a handler runs ends the connection. */
const MAX_PENDING_INPUT = MAX_HEAD_BYTES + 48 * 1024;
const DEFAULT_TIMEOUT_SECONDS = 30;
/** A client that pipelines requests without reading the answers is cut off beyond this. */
const MAX_PENDING_OUTPUT = 1024 * 1024;
const REASONS: Readonly<Record<number, string>> = {
  200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
};

/**
 * One connection's request loop. The listener feeds it the socket's events; its deadlines are
 * its own timers, armed from construction on.
 *
 * @example
 * open(socket) { socket.data = new HttpConnection(socket, { handle, logger }); socket.data.admit(peer); },
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
  readonly #input = new HeadReader();
  /** A handler is running: later pipelined requests wait in `#input`. */
  #busy = false;
  /** What the armed timer waits for: the rest of a head, or a next request; nothing while a handler runs. */
  #waiting: "head" | "idle" | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pending: Uint8Array | undefined;
  /** This side decided to close once the output is flushed. */
  #closeAfterFlush = false;
  /** The client shut down its side: answer the complete requests already read, then close. */
  #inputEnded = false;
  #closed = false;

  constructor(transport: HttpTransport, options: HttpConnectionOptions) {
    this.#transport = transport;
    this.#options = options;
    this.#wait("head");
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
    // Nothing more is read once this side has decided to close.
    if (this.#closed || this.#closeAfterFlush) return;
    this.#input.push(chunk);
    this.#pump();
    if (this.#input.size > MAX_PENDING_INPUT) {
      this.#options.logger.debug("closed a connection that sent too much while a request was being answered", { pid: this.#peer?.pid, bytes: this.#input.size });
      this.#shut("terminate");
    }
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

  /** The transport is gone; nothing more is written. */
  closed(): void {
    this.#shut(undefined);
  }

  failed(error: Error): void {
    this.#shut(undefined);
    this.#options.logger.debug("connection error", { pid: this.#peer?.pid, error: error.message });
  }

  #write(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#pending) {
      if (this.#pending.length + bytes.length > MAX_PENDING_OUTPUT) {
        this.#options.logger.debug("closed a connection that does not read its answers", { pid: this.#peer?.pid });
        this.#shut("terminate");
        return;
      }
      this.#pending = Buffer.concat([this.#pending, bytes]);
      return;
    }
    const written = this.#transport.write(bytes);
    if (written < 0) this.#shut(undefined);
    else if (written < bytes.length) this.#pending = Buffer.from(bytes.subarray(written));
  }

  #finishIfDone(): void {
    if ((this.#closeAfterFlush || this.#inputEnded) && !this.#pending && !this.#busy && !this.#closed) this.#shut("end");
  }

  /** Marks the connection closed, stops its timer and, unless it is already gone, ends or drops the transport. */
  #shut(how: "end" | "terminate" | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.clear();
    this.#wait(undefined);
    if (how === "end") this.#transport.end();
    else if (how === "terminate") this.#transport.terminate();
  }

  /**
   * Arms the timer for `what`, unless it already waits for that: a deadline is not extended by
   * more bytes of the same head. `undefined` stops it (a handler is running, or all is over).
   */
  #wait(what: "head" | "idle" | undefined): void {
    if (what === this.#waiting) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting = what;
    if (what === undefined) return;
    const seconds = (what === "head" ? this.#options.headTimeoutSeconds : this.#options.idleTimeoutSeconds) ?? DEFAULT_TIMEOUT_SECONDS;
    this.#timer = setTimeout(() => {
      this.#options.logger.debug(what === "head" ? "closed a connection whose request head did not arrive in time" : "closed an idle connection", { pid: this.#peer?.pid });
      this.#shut("end");
    }, seconds * 1000);
    this.#timer.unref();
  }

  #respond(status: number, body: Uint8Array, headers: Record<string, string>, keepAlive: boolean, head: boolean): void {
    let text = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
    for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
    text += `content-length: ${body.length}\r\nconnection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`;
    const start = Buffer.from(text, "latin1");
    this.#write(head || body.length === 0 ? start : Buffer.concat([start, body]));
    if (!keepAlive) {
      this.#closeAfterFlush = true;
      this.#input.clear();
    }
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
      const next = this.#input.next(MAX_HEAD_BYTES);
      if (next === undefined) break;
      // This head's deadline is over; the next one's starts with its own first byte.
      this.#wait(undefined);
      if ("error" in next && next.error === "too large") {
        this.#respondJson(431, "RequestTooLarge", "request headers are too large", false);
        break;
      }
      const request = "head" in next ? parseRequestHead(next.head) : { error: "a line ends in a bare LF, not CRLF" };
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
            this.#shut("terminate");
          })
          .finally(() => {
            this.#busy = false;
            this.#pump();
          });
      }
    }
    if (!this.#closed) this.#wait(this.#busy ? undefined : this.#input.size > 0 && !this.#closeAfterFlush ? "head" : "idle");
    this.#finishIfDone();
  }
}
