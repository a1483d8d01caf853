/**
 * HTTP/1.1 inside an intercepted tunnel, read and written by the proxy itself rather than by
 * node:http. Under load most of the proxy's time went into socket writes, and node:http's
 * server for emitted connections writes a response's head and body separately; here a
 * response whose body has already arrived leaves in one write, head and body together.
 *
 * Only what is plain and unambiguous takes this path: a head that the listener's strict
 * parser accepts (no obs-fold, no bare CR or LF, one Host, framing beyond doubt), HTTP/1.1,
 * origin-form, no Transfer-Encoding, at most one Content-Length, no Upgrade and no Expect.
 * Anything else is handed, with every byte not yet read and at a request boundary, to the
 * node:http server for the rest of the connection, so what it answers there (400 and 431 for
 * hostile heads, chunked uploads, WebSocket upgrades, 100-continue) is what it always was.
 */
import { STATUS_CODES } from "node:http";
import { PassThrough, type Duplex, type Readable, type Writable } from "node:stream";
import { HeadReader } from "../../http/head-reader.ts";
import type { HeaderList } from "../forward-headers.ts";
import { parseProxyRequestHead, type ProxyRequestHead } from "../proxy-request-head.ts";
import { refusalBytes, type Refusal } from "../refusal.ts";
import type { ClientSide } from "./client-side.ts";

/** A request the fast path takes: its head, and how many body bytes follow it. */
export interface FastRequest {
  readonly head: ProxyRequestHead;
  readonly bodyLength: number;
  /** The client asked for the connection to be closed after this response. */
  readonly close: boolean;
}

export interface InnerH1Options {
  readonly maxHeaderBytes: number;
  /** Gives the connection, and the bytes read but not used, to node:http for the rest of its life. */
  handOver(unread: Buffer): void;
  /** Forwards one request; resolves when its response has been written (or the client has gone). */
  forward(client: ClientSide, request: FastRequest): Promise<void>;
}

const EMPTY = Buffer.alloc(0);
const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");
/** Characters that would end a header line early (response splitting). */
const UNSAFE = /[\r\n\0]/;

/** The fast-path reading of a head, or undefined when node:http should have it. */
export function fastRequest(text: string): FastRequest | undefined {
  const head = parseProxyRequestHead(text);
  if ("reason" in head || head.form !== "origin" || head.version !== "1.1") return undefined;
  let bodyLength = 0;
  let lengths = 0;
  let close = false;
  for (const [name, value] of head.headers) {
    if (name === "transfer-encoding" || name === "upgrade" || name === "expect") return undefined;
    if (name === "content-length") {
      if (++lengths > 1 || !/^\d{1,15}$/.test(value)) return undefined;
      bodyLength = Number(value);
    } else if (name === "connection") {
      for (const token of value.toLowerCase().split(",")) {
        const t = token.trim();
        if (t === "upgrade") return undefined;
        if (t === "close") close = true;
      }
    }
  }
  return { head, bodyLength, close };
}

export function serveInnerH1(socket: Duplex, options: InnerH1Options): void {
  new InnerH1Connection(socket, options);
}

class InnerH1Connection {
  readonly #socket: Duplex;
  readonly #options: InnerH1Options;
  readonly #reader = new HeadReader();
  /** A request is in flight: later bytes wait in the reader (pipelining) until it is done. */
  #busy = false;
  /** The body of the request in flight, while some of it has still to arrive. */
  #body: { stream: PassThrough; remaining: number } | undefined;
  #handedOver = false;

  constructor(socket: Duplex, options: InnerH1Options) {
    this.#socket = socket;
    this.#options = options;
    socket.on("data", this.#onData);
    socket.once("close", () => this.#body?.stream.destroy());
  }

  readonly #onData = (chunk: Buffer): void => {
    const rest = this.#body ? this.#feedBody(chunk) : chunk;
    if (rest.length === 0) return;
    this.#reader.push(rest);
    if (!this.#busy) return this.#next();
    // A client that pipelines far ahead waits for the request in flight to be answered.
    if (this.#reader.size > this.#options.maxHeaderBytes) this.#socket.pause();
  };

  #next(): void {
    const next = this.#reader.next(this.#options.maxHeaderBytes);
    if (next === undefined) return;
    const request = "head" in next ? fastRequest(next.head) : undefined;
    if (!request) return this.#handOver("head" in next ? Buffer.from(next.head + "\r\n\r\n", "latin1") : EMPTY);
    this.#busy = true;
    const body = this.#takeBody(request.bodyLength);
    const client = new FastClient(this.#socket, request, body);
    void this.#options.forward(client, request).then(() => this.#done(client, request));
  }

  /** The request's body: what has arrived is given at once, the rest as it comes. */
  #takeBody(length: number): PassThrough | undefined {
    if (length === 0) return undefined;
    const stream = new PassThrough();
    const held = this.#reader.takeRest();
    stream.write(held.subarray(0, length));
    if (held.length > length) this.#reader.push(held.subarray(length));
    if (held.length >= length) stream.end();
    else this.#body = { stream, remaining: length - held.length };
    return stream;
  }

  /** Bytes of the body in flight go to it; what follows it is returned. */
  #feedBody(chunk: Buffer): Buffer {
    const body = this.#body!;
    const mine = chunk.subarray(0, body.remaining);
    body.remaining -= mine.length;
    if (!body.stream.write(mine)) {
      this.#socket.pause();
      body.stream.once("drain", () => this.#socket.resume());
    }
    if (body.remaining > 0) return EMPTY;
    body.stream.end();
    this.#body = undefined;
    return chunk.subarray(mine.length);
  }

  #done(client: FastClient, request: FastRequest): void {
    this.#busy = false;
    client.release();
    if (this.#socket.destroyed) return;
    // After a refusal, a close asked for, or a response that came before its request's body was
    // all in, the connection ends: its next byte could not be trusted to start a request.
    if (request.close || client.closing || this.#body !== undefined) {
      this.#body?.stream.destroy();
      this.#body = undefined;
      return void this.#socket.end();
    }
    if (this.#socket.isPaused()) this.#socket.resume();
    this.#next();
  }

  #handOver(head: Buffer): void {
    if (this.#handedOver) return;
    this.#handedOver = true;
    this.#socket.off("data", this.#onData);
    this.#socket.pause();
    this.#options.handOver(Buffer.concat([head, this.#reader.takeRest()]));
  }
}

/** One request's client side on the proxy's own connection. */
class FastClient implements ClientSide {
  readonly method: string;
  readonly rawHeaders: string[];
  readonly httpVersionMajor = 1;
  readonly bodyLength: number;
  /** The connection must end after this response (a refusal, or the client's Connection: close). */
  closing = false;
  readonly #socket: Duplex;
  readonly #request: FastRequest;
  readonly #body: PassThrough | undefined;
  #headSent = false;
  #finished = false;
  /** What to cancel when the client goes before its response is complete (the upstream call, a body read ahead). */
  readonly #aborts: (() => void)[] = [];
  readonly #onClose = (): void => {
    if (!this.#finished) for (const abort of this.#aborts) abort();
  };

  constructor(socket: Duplex, request: FastRequest, body: PassThrough | undefined) {
    this.#socket = socket;
    this.#request = request;
    this.#body = body;
    this.method = request.head.method;
    this.bodyLength = request.bodyLength;
    this.rawHeaders = request.head.headers.flat();
  }

  get gone(): boolean {
    return this.#socket.destroyed;
  }

  onGone(abort: () => void): void {
    if (this.#aborts.push(abort) === 1) this.#socket.once("close", this.#onClose);
  }

  /** The request is over: its listener on the connection goes. */
  release(): void {
    if (this.#aborts.length > 0) this.#socket.off("close", this.#onClose);
  }

  pipeBody(to: Writable): void {
    if (this.#body) this.#body.pipe(to);
    else to.end();
  }

  refuse(refusal: Refusal, extra: Readonly<Record<string, string>>): void {
    this.closing = true;
    this.#finished = true;
    if (this.#headSent || this.#socket.destroyed) return void this.#socket.destroy();
    this.#headSent = true;
    this.#socket.write(refusalBytes({ ...refusal, headers: { ...refusal.headers, ...extra } }, { head: this.method === "HEAD" })); // UTF-8: Content-Length counts the message's UTF-8 bytes (it may hold "…")
  }

  abort(): void {
    this.#socket.destroy();
  }

  respond(status: number, statusMessage: string | undefined, headers: HeaderList, body: Readable): Promise<number> {
    const bodiless = this.method === "HEAD" || status === 204 || status === 304 || status < 200;
    const head = responseHead(status, statusMessage, headers, { bodiless, close: this.#request.close });
    if (head === undefined) {
      this.abort(); // a CR or LF in an upstream's header would split the response
      return Promise.resolve(0);
    }
    this.#headSent = true;
    const chunked = !bodiless && !headers.some(([name]) => name === "content-length");
    const frame = (chunk: Buffer) => (chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`, "latin1"), chunk, Buffer.from("\r\n", "latin1")]) : chunk);
    // What has already arrived of the body goes out with the head; no read-ahead beyond it.
    const parts: Buffer[] = [Buffer.from(head, "latin1")];
    let bytes = 0;
    for (let chunk = body.read() as Buffer | null; chunk !== null && !bodiless; chunk = body.read() as Buffer | null) {
      bytes += chunk.length;
      parts.push(frame(chunk));
    }
    const complete = bodiless || ((body as { complete?: boolean }).complete === true && body.readableLength === 0);
    if (complete && chunked) parts.push(LAST_CHUNK);
    this.#socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    if (!complete && body.destroyed) {
      this.abort(); // it failed before we listened: the client must see the response cut off
      return Promise.resolve(bytes);
    }
    if (complete) {
      this.#finished = true;
      body.resume(); // lets it end, so the upstream connection goes back to its pool
      return Promise.resolve(bytes);
    }
    return this.#stream(body, frame, chunked, bytes);
  }

  /** The rest of a body, each chunk written as it arrives (an SSE event reaches the client before the next is sent). */
  #stream(body: Readable, frame: (chunk: Buffer) => Buffer, chunked: boolean, sent: number): Promise<number> {
    let bytes = sent;
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        body.off("data", onData).off("end", onEnd).off("close", onClose);
        this.#socket.off("close", onClientClose);
        this.#finished = ok;
        if (!ok) this.#socket.destroy();
        resolve(bytes);
      };
      const onData = (chunk: Buffer) => {
        bytes += chunk.length;
        if (this.#socket.write(frame(chunk))) return;
        body.pause();
        this.#socket.once("drain", () => body.resume());
      };
      const onEnd = () => {
        if (chunked) this.#socket.write(LAST_CHUNK);
        finish(true);
      };
      // Closed before its end (the upstream went away mid-body): the client must see it cut off.
      const onClose = () => (body.readableEnded || (body as { complete?: boolean }).complete === true ? onEnd() : finish(false));
      const onClientClose = () => finish(false);
      body.on("data", onData).once("end", onEnd).once("close", onClose);
      this.#socket.once("close", onClientClose);
    });
  }
}

/** The response head for the client, or undefined when a header would break the framing. */
function responseHead(status: number, statusMessage: string | undefined, headers: HeaderList, options: { bodiless: boolean; close: boolean }): string | undefined {
  const reason = statusMessage ?? STATUS_CODES[status] ?? "";
  if (UNSAFE.test(reason)) return undefined;
  let text = `HTTP/1.1 ${status} ${reason}\r\n`;
  let length = false;
  for (const [name, value] of headers) {
    if (UNSAFE.test(name) || UNSAFE.test(value)) return undefined;
    if (name === "content-length") length = true;
    text += `${name}: ${value}\r\n`;
  }
  if (!options.bodiless && !length) text += "transfer-encoding: chunked\r\n";
  if (options.close) text += "connection: close\r\n";
  return text + "\r\n";
}
