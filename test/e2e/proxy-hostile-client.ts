/**
 * A hostile client for the proxy's e2e tests: raw bytes on a TCP socket to the proxy, a
 * CONNECT whose authority is any text at all, then (when the tunnel opens) TLS with any
 * server name and any request head. No client library would send most of these, which is
 * the point; every read ends on a complete response, the peer closing, or a deadline.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface RawResponse {
  /** 0 when nothing parseable came back (the peer closed). */
  readonly status: number;
  /** Everything received, latin1. */
  readonly text: string;
  readonly head: string;
  readonly body: string;
}

export interface TunnelResult {
  /** The proxy's answer to the CONNECT. */
  readonly connect: RawResponse;
  /** The answer inside the tunnel, when it opened and a request was sent. */
  readonly inner?: RawResponse;
}

export interface TunnelRequest {
  /** The request head and body sent inside the tunnel (CRLFs included). */
  readonly bytes: string;
  /** TLS server name; undefined sends none (an IP literal). */
  readonly servername: string | undefined;
  /** Send `bytes` in the clear instead of starting TLS. */
  readonly plain?: boolean;
}

type Stream = Socket & { write(data: string, encoding: BufferEncoding): boolean };

/** Reads one response from `stream`: until its Content-Length is in, the stream ends, or timeoutMs. */
export function readResponse(stream: Stream, options: { timeoutMs?: number; headOnlyWhen200?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve) => {
    let text = "";
    const finish = () => {
      clearTimeout(timer);
      stream.off("data", onData).off("end", finish).off("close", finish).off("error", finish);
      resolve(parse(text));
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (complete(text, options.headOnlyWhen200 === true)) finish();
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 5000);
    stream.on("data", onData).once("end", finish).once("close", finish).once("error", finish);
  });
}

function complete(text: string, headOnlyWhen200: boolean): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const head = text.slice(0, end);
  if (headOnlyWhen200 && /^HTTP\/1\.[01] 200/.test(head)) return true;
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  return length !== null && text.length - end - 4 >= Number(length[1]);
}

function parse(text: string): RawResponse {
  const end = text.indexOf("\r\n\r\n");
  const head = end < 0 ? text : text.slice(0, end);
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  return { status: status ? Number(status[1]) : 0, text, head, body: end < 0 ? "" : text.slice(end + 4) };
}

/** Opens a TCP connection to the proxy on 127.0.0.1 and sends `bytes` as they are. */
export function openRaw(proxyPort: number): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port: proxyPort }, () => resolve(socket as Stream));
    socket.once("error", reject);
  });
}

/** Sends `bytes` on a fresh connection and reads one response. */
export async function rawRequest(proxyPort: number, bytes: string, timeoutMs = 5000): Promise<RawResponse> {
  const socket = await openRaw(proxyPort);
  try {
    const answer = readResponse(socket, { timeoutMs });
    socket.write(bytes, "latin1");
    return await answer;
  } finally {
    socket.destroy();
  }
}

/** Several requests on one kept-alive connection, one response read after each. */
export async function rawSequence(proxyPort: number, requests: readonly string[], timeoutMs = 5000): Promise<RawResponse[]> {
  const socket = await openRaw(proxyPort);
  try {
    const out: RawResponse[] = [];
    for (const bytes of requests) {
      const answer = readResponse(socket, { timeoutMs });
      socket.write(bytes, "latin1");
      out.push(await answer);
      if (socket.destroyed || socket.readyState !== "open") break;
    }
    return out;
  } finally {
    socket.destroy();
  }
}

/**
 * `CONNECT <authority>`, exactly as given, then, if the proxy answers 200, each request of
 * `inner` in turn on the tunnel (over TLS unless `plain`), one response read after each.
 */
export async function tunnel(proxyPort: number, authority: string, inner: readonly TunnelRequest[] = [], timeoutMs = 5000): Promise<{ connect: RawResponse; inner: RawResponse[] }> {
  const socket = await openRaw(proxyPort);
  try {
    const answer = readResponse(socket, { timeoutMs, headOnlyWhen200: true });
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, "latin1");
    const connect = await answer;
    if (connect.status !== 200 || inner.length === 0) return { connect, inner: [] };
    const first = inner[0]!;
    const stream = first.plain ? socket : await startTls(socket, first.servername);
    const responses: RawResponse[] = [];
    for (const request of inner) {
      const response = readResponse(stream as Stream, { timeoutMs });
      (stream as Stream).write(request.bytes, "latin1");
      responses.push(await response);
      if (stream.destroyed) break;
    }
    stream.destroy();
    return { connect, inner: responses };
  } finally {
    socket.destroy();
  }
}

/** TLS over the tunnel. The certificate is not checked: this client attacks, it does not trust. */
function startTls(socket: Socket, servername: string | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"], ...(servername === undefined ? {} : { servername }) }, () => resolve(tls));
    tls.once("error", reject);
  });
}

/** A request head: `lines` joined by CRLF, ended by an empty line, then `body`. */
export function head(lines: readonly string[], body = ""): string {
  return lines.join("\r\n") + "\r\n\r\n" + body;
}
