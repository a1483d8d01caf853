/**
 * Echo origins for the proxy's end-to-end tests: they answer every request with what they
 * received (method, path, version, every header, body, negotiated ALPN) as JSON, so a test
 * can assert what the proxy injected, stripped or kept. 127.0.0.1 only, port chosen by the OS.
 *
 * Special paths, for behaviour an echo cannot show:
 *   /status/<code>        answers <code> (200-599) with the echo as body (none for 204/304)
 *   /sse?n=3              n Server-Sent Events; event 1 at once, event k+1 only after the test
 *                         calls `releaseNext()`, so a test can prove event k reached the client
 *                         before event k+1 existed (no buffering proxy can pass)
 *   /stream-until-abort   writes "started\n" and never ends; `aborted` resolves when the
 *                         client side goes away (connection closed, or RST_STREAM on h2)
 *   /ws                   WebSocket upgrade (HTTP/1.1), echoes text and binary frames
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from "node:http2";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { onCleanup } from "./cleanup.ts";
import type { TestPki } from "./test-ca.ts";
import { listenTracked, type Listening } from "./listen-tracked.ts";
import { Condition, deferred } from "./wait.ts";
import { acceptWebSocket } from "./websocket-echo.ts";

export type Alpn = "h2" | "http/1.1";

/** What the origin saw, and what it echoes back as the JSON body. */
export interface RecordedRequest {
  /** 1, 2, … in arrival order (per origin). */
  seq: number;
  /** The origin's name (default "origin"), so a test talking to several can tell them apart. */
  origin: string;
  method: string;
  /** Path and query as sent (h1 request target / h2 :path). */
  path: string;
  /** "1.1", "1.0" or "2.0". */
  httpVersion: string;
  /** h2 :authority, else the Host header. */
  authority: string | undefined;
  /** Every header, names lower-cased, in arrival order; a repeated name becomes an array. h2 pseudo-headers are not here. */
  headers: Record<string, string | string[]>;
  /** h2 pseudo-headers (:method, :path, :scheme, :authority). Empty on HTTP/1. */
  pseudo: Record<string, string>;
  /** Request body as UTF-8 (empty for a WebSocket upgrade). */
  body: string;
  /** The ALPN protocol negotiated on the connection; null on plain HTTP or when none was agreed. */
  alpn: string | null;
  /** True for a request that arrived as an HTTP/1.1 Upgrade. */
  upgrade: boolean;
}

export interface EchoOrigin {
  readonly port: number;
  /** `https://<host>:<port>` (no trailing slash); host defaults to 127.0.0.1. */
  url(host?: string): string;
  readonly requests: RecordedRequest[];
  /** Resolves once n requests have been recorded. */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Lets one more SSE event out (the oldest waiting /sse stream sends its next event). Early calls are banked. */
  releaseNext(): void;
  /** SSE events written so far (all streams); counted once the write was handed to the socket. */
  readonly sseSent: number;
  waitForSseSent(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves with the request of the first /stream-until-abort whose client went away. */
  readonly aborted: Promise<RecordedRequest>;
  /** /stream-until-abort responses open right now, and ones whose client went away so far. */
  readonly openStreams: number;
  readonly aborts: number;
  waitForAborts(n: number, timeoutMs?: number): Promise<void>;
  /** /sse responses open right now. */
  readonly openSse: number;
  /** Resolves once `check()` holds; re-checked whenever the origin's state changes (request, event, abort, message). */
  until(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Text messages received over /ws, in order (all connections). */
  readonly wsMessages: string[];
  close(): Promise<void>;
}

export interface HttpsOriginOptions {
  pki: TestPki;
  /** ALPN protocols the origin agrees to. Default ["http/1.1"]; see startHttpsOrigin. */
  alpn?: Alpn[];
  name?: string;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
/** The h2 compatibility response has the same surface the handlers use, so they see one type. */
type AnyResponse = ServerResponse;

/**
 * Hands out SSE permits: `release()` banks one or wakes the oldest waiter; `take(res)` waits
 * for one. A stream whose client went away stops waiting (false) without using up a permit,
 * so a release always reaches a live stream. Everything resolves false once closed.
 */
class Permits {
  private banked = 0;
  private waiters: Array<(ok: boolean) => void> = [];
  private closed = false;

  release(): void {
    const next = this.waiters.shift();
    if (next) next(true);
    else this.banked++;
  }

  take(res: ServerResponse): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.banked > 0) {
      this.banked--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = (ok: boolean): void => {
        res.off("close", gone);
        resolve(ok);
      };
      const gone = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      };
      res.once("close", gone);
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(false);
  }
}

function recordHeaders(raw: string[]): { headers: Record<string, string | string[]>; pseudo: Record<string, string> } {
  const headers: Record<string, string | string[]> = {};
  const pseudo: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? "").toLowerCase();
    const value = raw[i + 1] ?? "";
    if (name.startsWith(":")) {
      pseudo[name] = value;
      continue;
    }
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = [prev, value];
  }
  return { headers, pseudo };
}

function alpnOf(req: AnyRequest): string | null {
  const h2 = (req as Http2ServerRequest).stream?.session as (Http2Session & { alpnProtocol?: string }) | undefined;
  const proto = h2?.alpnProtocol ?? (req.socket as TLSSocket | undefined)?.alpnProtocol;
  return typeof proto === "string" && proto !== "" ? proto : null;
}

function readBody(req: AnyRequest): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(Buffer.from(c)));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function writeAsync(res: AnyResponse, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    res.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

/** Shared state and handlers behind both the HTTPS and the plain HTTP origin. */
function echoCore(name: string) {
  const changed = new Condition();
  const permits = new Permits();
  const requests: RecordedRequest[] = [];
  const wsMessages: string[] = [];
  const firstAbort = deferred<RecordedRequest>();
  let sseSent = 0;
  let openStreams = 0;
  let openSse = 0;
  let aborts = 0;

  const record = (req: AnyRequest, body: string, upgrade: boolean): RecordedRequest => {
    const { headers, pseudo } = recordHeaders(req.rawHeaders);
    const hostHeader = headers.host;
    const entry: RecordedRequest = {
      seq: requests.length + 1,
      origin: name,
      method: req.method ?? "",
      path: req.url ?? "",
      httpVersion: req.httpVersion,
      authority: pseudo[":authority"] ?? (Array.isArray(hostHeader) ? hostHeader[0] : hostHeader),
      headers,
      pseudo,
      body,
      alpn: alpnOf(req),
      upgrade,
    };
    requests.push(entry);
    changed.notify();
    return entry;
  };

  const json = (res: AnyResponse, status: number, entry: RecordedRequest, method: string): void => {
    const noBody = status === 204 || status === 304 || method === "HEAD";
    const text = JSON.stringify(entry);
    res.writeHead(status, { "content-type": "application/json", "x-origin-seq": String(entry.seq), ...(noBody ? {} : { "content-length": String(Buffer.byteLength(text)) }) });
    if (noBody) res.end();
    else res.end(text);
  };

  const sse = async (res: AnyResponse, n: number): Promise<void> => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    openSse++;
    res.once("close", () => {
      openSse--;
      changed.notify();
    });
    for (let k = 1; k <= n; k++) {
      if (k > 1 && !(await permits.take(res))) return;
      if (res.destroyed) return;
      await writeAsync(res, `id: ${k}\nevent: tick\ndata: ${JSON.stringify({ k, of: n })}\n\n`);
      sseSent++;
      changed.notify();
    }
    res.end();
  };

  const streamUntilAbort = (res: AnyResponse, entry: RecordedRequest): void => {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
    openStreams++;
    changed.notify();
    res.once("close", () => {
      openStreams--;
      aborts++;
      firstAbort.resolve(entry);
      changed.notify();
    });
    res.write("started\n");
  };

  const handle = async (req: AnyRequest, res: AnyResponse): Promise<void> => {
    const body = await readBody(req);
    const entry = record(req, body, false);
    const url = new URL(req.url ?? "/", "http://origin.invalid");
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (status) {
      const code = Number(status[1]);
      if (code < 200 || code > 599) return json(res, 400, entry, req.method ?? "");
      return json(res, code, entry, req.method ?? "");
    }
    if (url.pathname === "/sse") return sse(res, Number(url.searchParams.get("n") ?? "3"));
    if (url.pathname === "/stream-until-abort") return streamUntilAbort(res, entry);
    return json(res, 200, entry, req.method ?? "");
  };

  const onRequest = (req: AnyRequest, res: AnyResponse | Http2ServerResponse): void => {
    const response = res as AnyResponse;
    handle(req, response).catch(() => {
      // The client went away mid-answer; nothing to tell it.
      if ("stream" in res) res.stream.destroy();
      else response.destroy();
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const entry = record(req, "", true);
    if (new URL(req.url ?? "/", "http://origin.invalid").pathname !== "/ws") {
      const text = JSON.stringify(entry);
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
      return;
    }
    acceptWebSocket(req, socket, head, {
      onText: (text) => {
        wsMessages.push(text);
        changed.notify();
      },
    });
  };

  const api = {
    requests,
    wsMessages,
    aborted: firstAbort.promise,
    releaseNext: () => permits.release(),
    get sseSent() {
      return sseSent;
    },
    get openStreams() {
      return openStreams;
    },
    get openSse() {
      return openSse;
    },
    get aborts() {
      return aborts;
    },
    waitForRequests: (n: number, timeoutMs = 5000) => changed.until(() => requests.length >= n, timeoutMs, `${n} request(s) at ${name} (saw ${requests.length})`),
    waitForSseSent: (n: number, timeoutMs = 5000) => changed.until(() => sseSent >= n, timeoutMs, `${n} SSE event(s) sent by ${name} (sent ${sseSent})`),
    until: (check: () => boolean, timeoutMs = 5000, what = `condition at ${name}`) => changed.until(check, timeoutMs, what),
    waitForAborts: (n: number, timeoutMs = 5000) => changed.until(() => aborts >= n, timeoutMs, `${n} client abort(s) seen by ${name} (saw ${aborts})`),
  };
  return { api, onRequest, onUpgrade, shutdown: () => permits.close() };
}

/** `http` handles requests and upgrades; `listener` is what listens (itself, or a TLS server feeding it). */
async function startOrigin(http: HttpServer | ReturnType<typeof createSecureServer>, listener: Listening, scheme: "http" | "https", name: string): Promise<EchoOrigin> {
  const core = echoCore(name);
  http.on("request", core.onRequest);
  http.on("upgrade", core.onUpgrade);
  const { port, stop } = await listenTracked(listener);
  let unregister = (): void => undefined;
  const close = async (): Promise<void> => {
    unregister();
    core.shutdown();
    await stop();
  };
  unregister = onCleanup(`${name} ${scheme} origin :${port}`, close);
  return Object.assign(core.api, {
    port,
    url: (host = "127.0.0.1") => `${scheme}://${host}:${port}`,
    close,
  }) as EchoOrigin;
}

/**
 * An HTTPS echo origin with `pki`'s leaf. With "h2" in `alpn`: a node:http2 secure server
 * (HTTP/1.1 as well only if "http/1.1" is listed; an h2-only origin refuses other clients
 * with a no_application_protocol alert). Otherwise HTTP/1.1 from node:http behind a
 * node:tls server, because Bun 1.4.5's node:https ignores ALPNProtocols; `alpn: []` gives
 * an origin that agrees on no ALPN protocol at all.
 */
export async function startHttpsOrigin(options: HttpsOriginOptions): Promise<EchoOrigin> {
  const alpn = options.alpn ?? ["http/1.1"];
  const name = options.name ?? "origin";
  const tls = { key: options.pki.keyPem, cert: options.pki.certPem };
  if (alpn.includes("h2")) {
    const server = createSecureServer({ ...tls, allowHTTP1: alpn.includes("http/1.1") });
    return startOrigin(server, server, "https", name);
  }
  const http = createHttpServer();
  const listener = createTlsServer({ ...tls, ...(alpn.length > 0 ? { ALPNProtocols: alpn } : {}) }, (socket) => {
    http.emit("connection", socket);
  });
  return startOrigin(http, listener, "https", name);
}

/** The same echo over plain HTTP/1.1 (node:http). */
export async function startHttpOrigin(options: { name?: string } = {}): Promise<EchoOrigin> {
  const name = options.name ?? "origin";
  const server = createHttpServer();
  return startOrigin(server, server, "http", name);
}
