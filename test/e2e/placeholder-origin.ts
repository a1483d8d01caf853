/**
 * An origin for the placeholder-body tests: it keeps every request body's bytes as they arrive
 * (so a request reset mid-body shows exactly what reached it), says whether the body matched
 * its Content-Length, and can echo a request header back in a response header and body:
 *
 *   /reflect          200 JSON {"echo": <x-reflect>} with a Content-Length, and x-echo: <x-reflect>
 *   /reflect-stream   200 text/plain, no Content-Length, "echo=<x-reflect>" in two writes
 *   anything else     200 "ok"
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createSecureServer } from "node:http2";
import { createServer as createTlsServer } from "node:tls";
import { onCleanup } from "../helpers/cleanup.ts";
import { listenTracked } from "../helpers/listen-tracked.ts";
import type { TestPki } from "../helpers/test-ca.ts";
import { Condition } from "../helpers/wait.ts";

export interface BodyRecord {
  readonly path: string;
  readonly httpVersion: string;
  readonly headers: IncomingMessage["headers"];
  /** Grows as the body arrives. */
  body: Buffer;
  /** The body ended (false for one cut off). */
  complete: boolean;
}

export interface PlaceholderOrigin {
  readonly port: number;
  readonly requests: BodyRecord[];
  /** Resolves once a request for `path` has ended one way or the other. */
  settled(path: string, timeoutMs?: number): Promise<BodyRecord>;
}

export async function startPlaceholderOrigin(kind: "h1" | "h2" | "plain", pki: TestPki): Promise<PlaceholderOrigin> {
  const requests: BodyRecord[] = [];
  const changed = new Condition();
  const ended = new Set<BodyRecord>();
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const record: BodyRecord = { path: req.url ?? "", httpVersion: req.httpVersion, headers: req.headers, body: Buffer.alloc(0), complete: false };
    requests.push(record);
    const settle = () => {
      ended.add(record);
      changed.notify();
    };
    req.on("data", (chunk: Buffer) => (record.body = Buffer.concat([record.body, chunk])));
    req.once("error", settle);
    req.once("close", settle);
    req.once("end", () => {
      record.complete = true;
      settle();
      answer(req, res);
    });
  };
  const tls = { key: pki.keyPem, cert: pki.certPem };
  let listening;
  if (kind === "h2") {
    const server = createSecureServer(tls);
    server.on("request", onRequest as never);
    listening = await listenTracked(server);
  } else {
    const http = createHttpServer(onRequest);
    // node:http behind node:tls: Bun's node:https ignores ALPNProtocols (see https-origin.ts).
    listening = await listenTracked(kind === "plain" ? http : createTlsServer({ ...tls, ALPNProtocols: ["http/1.1"] }, (socket) => http.emit("connection", socket)));
  }
  onCleanup(`placeholder ${kind} origin`, listening.stop);
  return {
    port: listening.port,
    requests,
    async settled(path, timeoutMs = 10_000) {
      await changed.until(() => requests.some((r) => r.path === path && ended.has(r)), timeoutMs, `the origin to see ${path} end`);
      return requests.find((r) => r.path === path)!;
    },
  };
}

function answer(req: IncomingMessage, res: ServerResponse): void {
  const reflected = String(req.headers["x-reflect"] ?? "");
  if (req.url === "/reflect") {
    const body = JSON.stringify({ echo: reflected });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "x-echo": reflected });
    return void res.end(body);
  }
  if (req.url === "/reflect-stream") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("echo=");
    return void res.end(reflected);
  }
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("ok");
}

/** Whether a recorded body is as long as its Content-Length says (true when it has none). */
export function lengthMatches(record: BodyRecord): boolean {
  const declared = record.headers["content-length"];
  return declared === undefined || Number(declared) === record.body.length;
}
