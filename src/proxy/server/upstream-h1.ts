/**
 * HTTP/1.1 to an upstream without node:http's client: under load its request, agent and
 * pool bookkeeping (ClientRequest, addRequest, getName, the free handler) was ~20% of the
 * proxy's CPU. Connections are node:tls (the one shared secure context, the canonical name
 * as server name) or node:net sockets to the checked address, kept alive in a pool per
 * tenant, address and target, like the agents'.
 *
 * It takes only requests whose body length is known up front (the proxy's own fast path),
 * so the request head and what has arrived of the body leave in one write. Responses are
 * read strictly (RFC 9112): a status line, field lines without obs-fold or bare CR/LF, one
 * framing: Content-Length (one value), Transfer-Encoding exactly `chunked`, or to the close;
 * anything else ends the exchange as a failed upstream (502), never a guess. 1xx interim
 * responses are skipped; a 101 is a failure (no upgrade was asked for).
 */
import { connect as netConnect, type Socket } from "node:net";
import type { OutgoingHttpHeaders } from "node:http";
import { Readable, Writable } from "node:stream";
import { connect as tlsConnect, type SecureContext } from "node:tls";
import { HeadReader } from "../../http/head-reader.ts";
import { ChunkedDecoder } from "./chunked-decoder.ts";
import type { UpstreamExchange, UpstreamResponse } from "./upstream-exchange.ts";
import { failureKind, type UpstreamFailure } from "./upstream-request.ts";

const MAX_RESPONSE_HEAD = 64 * 1024;
const MAX_IDLE_PER_KEY = 64;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t\x20-\x7e\x80-\xff]*?)[\t ]*$/;
const UNSAFE = /[\r\n\0]/;

export interface H1Target {
  /** Pool key: tenant, address, port, server name, TLS or not. */
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** TLS with this server name (undefined for an IP literal), or plain TCP when tls is false. */
  readonly tls: boolean;
  readonly servername: string | undefined;
  readonly secureContext: SecureContext;
}

export interface H1Request {
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  readonly bodyLength: number;
}

export interface H1Limits {
  readonly connectTimeoutMs: number;
  readonly responseHeadTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

export class UpstreamH1 {
  readonly #idle = new Map<string, Socket[]>();
  /** The listeners a pooled socket has while idle, to take off exactly (not node:tls's own). */
  readonly #idleListeners = new WeakMap<Socket, () => void>();

  exchange(target: H1Target, request: H1Request, limits: H1Limits): UpstreamExchange {
    const head = requestHead(request);
    if (head === undefined) return refused(new Error("a request header holds a CR, LF or NUL"));
    const reused = this.#take(target.key);
    const connect = reused ? undefined : target.tls ? "secureConnect" : "connect";
    return new H1Exchange(reused ?? connectTo(target), connect, head, request, limits, (socket) => this.#put(target.key, socket, limits.idleTimeoutMs)).exchange;
  }

  /** Closes the idle connections of tenants that are gone (or all). */
  retain(tenants: ReadonlySet<string> | undefined): void {
    for (const [key, sockets] of this.#idle) {
      if (tenants?.has(key.split("\0", 1)[0]!)) continue;
      for (const socket of sockets) socket.destroy();
      this.#idle.delete(key);
    }
  }

  #take(key: string): Socket | undefined {
    const sockets = this.#idle.get(key);
    for (let socket = sockets?.pop(); socket !== undefined; socket = sockets!.pop()) {
      const drop = this.#idleListeners.get(socket);
      if (drop) socket.off("close", drop).off("data", drop).off("timeout", drop).off("error", drop);
      socket.setTimeout(0);
      if (!socket.destroyed) return socket;
    }
    return undefined;
  }

  #put(key: string, socket: Socket, idleTimeoutMs: number): void {
    let sockets = this.#idle.get(key);
    if (!sockets) this.#idle.set(key, (sockets = []));
    if (sockets.length >= MAX_IDLE_PER_KEY) return void socket.destroy();
    sockets.push(socket);
    const drop = () => {
      socket.destroy();
      const at = sockets!.indexOf(socket);
      if (at >= 0) sockets!.splice(at, 1);
    };
    // An idle upstream has nothing to say: bytes from it, its close, an error or the idle timeout end it.
    this.#idleListeners.set(socket, drop);
    socket.once("close", drop).once("data", drop).once("timeout", drop).once("error", drop);
    socket.setTimeout(idleTimeoutMs);
    socket.resume();
  }
}

function connectTo(target: H1Target): Socket {
  if (!target.tls) return netConnect({ host: target.host, port: target.port });
  return tlsConnect({ host: target.host, port: target.port, secureContext: target.secureContext, ALPNProtocols: ["http/1.1"], ...(target.servername ? { servername: target.servername } : {}) });
}

/** One request and its response on one connection. */
class H1Exchange {
  readonly exchange: UpstreamExchange;
  readonly #socket: Socket;
  readonly #request: H1Request;
  readonly #reader = new HeadReader();
  readonly #release: (socket: Socket) => void;
  #resolve!: (value: UpstreamResponse | UpstreamFailure) => void;
  #settled = false;
  #headTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #body: BodyReader | undefined;
  #done = false;
  #reusable = true;
  /** The request, body included, has been written in full. */
  #requestDone = false;

  /** `connect`: the event a new connection waits for (none for one from the pool). */
  constructor(socket: Socket, connect: "connect" | "secureConnect" | undefined, head: string, request: H1Request, limits: H1Limits, release: (socket: Socket) => void) {
    this.#socket = socket;
    this.#request = request;
    this.#release = release;
    const response = new Promise<UpstreamResponse | UpstreamFailure>((resolve) => (this.#resolve = resolve));
    this.exchange = { body: this.#bodyWriter(head), abort: () => this.#fail("reset", new Error("aborted")), response };
    this.#headTimer = setTimeout(() => this.#fail("timeout", new Error("no response head in time")), limits.responseHeadTimeoutMs);
    if (connect) {
      this.#connectTimer = setTimeout(() => this.#fail("timeout", new Error("connect timed out")), limits.connectTimeoutMs);
      socket.once(connect, () => clearTimeout(this.#connectTimer));
    }
    socket.on("data", this.#onData).on("error", this.#onError).once("close", this.#onClose);
  }

  readonly #onError = (error: Error & { code?: string }): void => this.#fail(failureKind(error), error);

  /** The request body's sink: the head leaves with what is written before the first flush. */
  #bodyWriter(head: string): Writable {
    let headSent = false;
    let sent = 0;
    const send = (chunks: Buffer[], last: boolean, done: (error?: Error | null) => void) => {
      const parts = headSent ? chunks : [Buffer.from(head, "latin1"), ...chunks];
      headSent = true;
      for (const c of chunks) sent += c.length;
      if (sent > this.#request.bodyLength) return done(new Error("request body longer than its Content-Length"));
      if (parts.length > 0 && !this.#socket.destroyed) this.#socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts), () => done());
      else done();
      if (last) this.#requestDone = sent === this.#request.bodyLength;
    };
    // A new socket holds what is written until it has connected.
    return new Writable({
      writev: (chunks, done) => send(chunks.map((c) => c.chunk as Buffer), false, done),
      final: (done) => send([], true, done),
    });
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#body) return this.#feed(chunk);
    this.#reader.push(chunk);
    for (;;) {
      const next = this.#reader.next(MAX_RESPONSE_HEAD);
      if (next === undefined) return;
      if ("error" in next) return this.#fail("reset", new Error(`upstream response head: ${next.error}`));
      const parsed = parseResponseHead(next.head, this.#request.method);
      if ("error" in parsed) return this.#fail("reset", new Error(`upstream response head: ${parsed.error}`));
      if (parsed.status >= 100 && parsed.status < 200) {
        if (parsed.status === 101) return this.#fail("reset", new Error("101 without an upgrade"));
        continue; // interim (100, 103): the final response follows
      }
      return this.#start(parsed);
    }
  };

  #start(head: ParsedHead): void {
    clearTimeout(this.#headTimer);
    if (!head.keepAlive) this.#reusable = false;
    const stream = new Readable({ read: () => this.#socket.resume() });
    // Its consumer listens for errors once it has the response; one before that must not go unheard.
    stream.on("error", () => {});
    this.#body = new BodyReader(head.framing, stream);
    const rest = this.#reader.takeRest();
    // A body broken in the first bytes fails the exchange itself (settled first): a 502, not a cut-off 200.
    if (rest.length > 0 || head.framing.kind === "none") this.#feed(rest);
    this.#settle({ status: head.status, statusMessage: head.reason, headers: head.headers, body: stream, protocol: "1.1" });
  }

  #feed(chunk: Buffer): void {
    const body = this.#body!;
    const result = body.feed(chunk);
    if ("error" in result) return this.#fail("reset", new Error(`upstream response body: ${result.error}`));
    if (result.paused) this.#socket.pause();
    if (!result.done) return;
    this.#done = true;
    if (result.extra) this.#reusable = false; // bytes past the end: nothing should follow a response
    this.#finish();
  }

  #finish(): void {
    this.#socket.off("data", this.#onData).off("error", this.#onError).off("close", this.#onClose);
    if (this.#reusable && this.#requestDone && !this.#socket.destroyed) this.#release(this.#socket);
    else this.#socket.destroy();
  }

  readonly #onClose = (): void => {
    clearTimeout(this.#headTimer);
    clearTimeout(this.#connectTimer);
    if (this.#body && !this.#done) {
      // A close-delimited body ends here; any other ends early, which the client must see.
      if (this.#body.closeEnds()) this.#done = true;
      else this.#body.fail(new Error("upstream closed mid-body"));
      return;
    }
    this.#settle({ kind: "reset", error: new Error("upstream closed before a response") });
  };

  #fail(kind: UpstreamFailure["kind"], error: Error): void {
    clearTimeout(this.#headTimer);
    clearTimeout(this.#connectTimer);
    this.#socket.destroy();
    if (this.#body && !this.#done) this.#body.fail(error);
    this.#settle({ kind, error });
  }

  #settle(value: UpstreamResponse | UpstreamFailure): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(value);
  }
}

type Framing = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" } | { kind: "close" };

interface ParsedHead {
  readonly status: number;
  readonly reason: string | undefined;
  readonly headers: [string, string][];
  readonly framing: Framing;
  readonly keepAlive: boolean;
}

/** A response head, strictly; the framing follows RFC 9112 §6.3 for the request's method. */
export function parseResponseHead(text: string, method: string): ParsedHead | { error: string } {
  const lines = text.split("\r\n");
  if (lines.some((line) => line.includes("\r") || line.includes("\n"))) return { error: "bare CR or LF" };
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) return { error: "bad status line" };
  const headers: [string, string][] = [];
  const lengths: string[] = [];
  const codings: string[] = [];
  let close = status[1] === "0";
  for (const line of lines.slice(1)) {
    const field = FIELD_LINE.exec(line);
    if (!field) return { error: line.startsWith(" ") || line.startsWith("\t") ? "obs-fold" : "bad header line" };
    const name = field[1]!;
    const value = field[2]!;
    headers.push([name, value]);
    const lower = name.toLowerCase();
    if (lower === "content-length") lengths.push(value);
    else if (lower === "transfer-encoding") codings.push(value);
    else if (lower === "connection") close ||= value.toLowerCase().split(",").some((t) => t.trim() === "close");
  }
  const code = Number(status[2]);
  const reason = status[3];
  const framing = responseFraming(code, method, lengths, codings);
  if ("error" in framing) return framing;
  return { status: code, reason, headers, framing, keepAlive: !close && framing.kind !== "close" };
}

function responseFraming(status: number, method: string, lengths: string[], codings: string[]): Framing | { error: string } {
  if (method === "HEAD" || status === 204 || status === 304 || status < 200) return { kind: "none" };
  if (codings.length > 0) {
    if (lengths.length > 0) return { error: "Content-Length beside Transfer-Encoding" };
    if (codings.length !== 1 || codings[0]!.toLowerCase() !== "chunked") return { error: "a Transfer-Encoding other than chunked" };
    return { kind: "chunked" };
  }
  if (lengths.length > 1 || (lengths.length === 1 && !/^\d{1,15}$/.test(lengths[0]!))) return { error: "Content-Length malformed or repeated" };
  if (lengths.length === 1) return Number(lengths[0]) === 0 ? { kind: "none" } : { kind: "length", length: Number(lengths[0]) };
  return { kind: "close" };
}

/** The request head as it goes upstream, or undefined when a header would break the framing. */
function requestHead(request: H1Request): string | undefined {
  let text = `${request.method} ${request.path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      const line = `${name}: ${v}`;
      if (UNSAFE.test(line)) return undefined;
      text += line + "\r\n";
    }
  }
  return UNSAFE.test(request.path) ? undefined : text + "\r\n";
}

/** The decoded body, pushed into its Readable as it arrives. */
class BodyReader {
  readonly #framing: Framing;
  readonly #stream: Readable;
  #remaining: number;
  readonly #chunked: ChunkedDecoder | undefined;

  constructor(framing: Framing, stream: Readable) {
    this.#framing = framing;
    this.#stream = stream;
    this.#remaining = framing.kind === "length" ? framing.length : 0;
    this.#chunked = framing.kind === "chunked" ? new ChunkedDecoder() : undefined;
  }

  feed(chunk: Buffer): { done: boolean; paused: boolean; extra?: boolean } | { error: string } {
    switch (this.#framing.kind) {
      case "none":
        return this.#end(chunk.length > 0);
      case "close":
        return { done: false, paused: chunk.length > 0 && !this.#stream.push(chunk) };
      case "length": {
        const mine = chunk.subarray(0, this.#remaining);
        this.#remaining -= mine.length;
        const paused = mine.length > 0 && !this.#stream.push(mine);
        if (this.#remaining > 0) return { done: false, paused };
        return { ...this.#end(chunk.length > mine.length), paused };
      }
      case "chunked": {
        const decoded = this.#chunked!.feed(chunk);
        if ("error" in decoded) return decoded;
        let paused = false;
        for (const data of decoded.data) paused = !this.#stream.push(data) || paused;
        if (!decoded.done) return { done: false, paused };
        return { ...this.#end(decoded.extra), paused };
      }
    }
  }

  /** A close ends only a body read to the close. */
  closeEnds(): boolean {
    if (this.#framing.kind !== "close") return false;
    this.#end(false);
    return true;
  }

  fail(error: Error): void {
    this.#stream.destroy(error);
  }

  #end(extra: boolean): { done: true; paused: false; extra: boolean } {
    // forwardRequest's client side writes head and body together once the body is complete.
    (this.#stream as Readable & { complete?: boolean }).complete = true;
    this.#stream.push(null);
    return { done: true, paused: false, extra };
  }
}

function refused(error: Error): UpstreamExchange {
  return { body: new Writable({ write: (_c, _e, done) => done() }), abort: () => {}, response: Promise.resolve({ kind: "connect", error }) };
}
