/**
 * The client's half of one forwarded request, whichever server read it: node:http (plain
 * http://, HTTP/2, and every HTTP/1.1 request the fast path hands over) or the proxy's own
 * HTTP/1.1 connection inside a tunnel (inner-h1-connection.ts). forwardRequest decides what
 * goes upstream; a ClientSide only reads the request and writes the answer.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import type { HeaderList } from "../forward-headers.ts";
import type { Refusal } from "../refusal.ts";

export interface ClientSide {
  readonly method: string;
  readonly rawHeaders: readonly string[];
  readonly httpVersionMajor: number;
  /** The body's length when it is known before it arrives; undefined when node:http reads it (it may be chunked). */
  readonly bodyLength: number | undefined;
  /** The client has gone (or its response was cut off). */
  readonly gone: boolean;
  /** Calls `abort` when the client goes before its response is complete. */
  onGone(abort: () => void): void;
  /** Streams the request body into `to` and ends it. */
  pipeBody(to: Writable): void;
  /** Answers with a refusal instead of an upstream's response. */
  refuse(refusal: Refusal, extra: Readonly<Record<string, string>>): void;
  /** Sends the head, streams `body` as it arrives; resolves with the body bytes once done or the client has gone. */
  respond(status: number, statusMessage: string | undefined, headers: HeaderList, body: Readable): Promise<number>;
  /** Cuts the response off (the upstream failed mid-body). */
  abort(): void;
}

/** A node:http (or node:http2 compatibility) request and response as a ClientSide. */
export function nodeClientSide(req: IncomingMessage, res: ServerResponse): ClientSide {
  return {
    method: req.method ?? "GET",
    rawHeaders: req.rawHeaders,
    httpVersionMajor: req.httpVersionMajor,
    bodyLength: undefined,
    get gone() {
      return res.destroyed;
    },
    onGone: (abort) => void res.once("close", () => !res.writableFinished && abort()),
    pipeBody: (to) => void req.pipe(to),
    refuse: (refusal, extra) => sendRefusal(res, refusal, extra),
    respond: async (status, statusMessage, headers, body) => {
      const head = headerObject(headers);
      if (statusMessage !== undefined && req.httpVersionMajor === 1) res.writeHead(status, statusMessage, head);
      else res.writeHead(status, head);
      (res as { flushHeaders?: () => void }).flushHeaders?.();
      let bytes = 0;
      body.on("data", (chunk: Buffer) => (bytes += chunk.length));
      body.pipe(res);
      await finished(res).catch(() => {}); // resolves at once if the client has already gone
      return bytes;
    },
    abort: () => void res.destroy(),
  };
}

/** Repeated names become arrays, which node:http writes as repeated lines. */
export function headerObject(list: HeaderList): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of list) {
    const key = name.toLowerCase();
    const current = out[key];
    if (current === undefined) out[key] = value;
    else if (Array.isArray(current)) current.push(value);
    else out[key] = [current, value];
  }
  return out;
}

export function sendRefusal(res: ServerResponse, refusal: Refusal, extra: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  const body = refusal.message + "\n";
  res.writeHead(refusal.status, {
    ...extra,
    ...refusal.headers,
    "x-credproxy-deny-reason": refusal.code,
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(body);
}
