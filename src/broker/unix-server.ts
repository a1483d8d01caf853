/**
 * The broker's unix-socket listener: a socket file that is mode 0600 from the moment it
 * exists, in a directory only its owner can enter, and a peer-credential check on every
 * connection before any request on it is answered. Allowed peers get a small HTTP/1.1 server
 * (GET and HEAD, keep-alive, pipelining, no request bodies) in front of `handle`; refused ones
 * get one 403 JSON answer and the connection is closed.
 *
 * Why Bun.listen and a hand-written HTTP/1.1 loop rather than node:net + node:http: Bun.serve
 * exposes no file descriptor for SO_PEERCRED (reference/bun-platform.md §5.1), both of the
 * others do, and over 1000 keep-alive requests this loop answered in p50 0.05 ms / p99 0.2 ms
 * against p50 0.13–0.24 ms / p99 2.1–2.3 ms for node:http fed through emit("connection").
 * The requests it must understand are a request line and headers, nothing more.
 */
import { randomBytes } from "node:crypto";
import { linkSync, lstatSync, renameSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Socket, UnixSocketListener } from "bun";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { peerCredentials, socketFd, type PeerCred } from "../net/peer-credentials.ts";
import { withUmask } from "../net/umask.ts";
import type { PeerDecision } from "./peer-policy.ts";
import { checkSocketPathShape, clearStaleSocket, ensurePrivateDir, maxSocketPathBytes, ownUid } from "./socket-path.ts";
import { JSON_HEADERS } from "../http/json.ts";

export interface UnixServerOptions {
  /** Absolute path of the socket file; its directory is created 0700 if missing. */
  readonly path: string;
  /** Decides once per connection, from the kernel's peer credentials. */
  readonly authorize: (peer: PeerCred) => PeerDecision;
  /** Answers a GET (or HEAD) from an allowed peer; `path` is the raw request path, query removed. */
  readonly handle: (path: string, peer: PeerCred) => Response | Promise<Response>;
  readonly logger: Logger;
  /** Tests inject fake peers; default: SO_PEERCRED (or LOCAL_PEERCRED) of the accepted socket. */
  readonly getPeer?: ((socket: object) => PeerCred) | undefined;
  /** Idle keep-alive connections are closed after this long. Default 30 s. */
  readonly idleTimeoutSeconds?: number | undefined;
}

export interface UnixServer {
  readonly path: string;
  /** Whether start-up removed a dead socket a previous broker left behind. */
  readonly replacedStaleSocket: boolean;
  /** Closes every connection and removes the socket file, if it is still ours. Idempotent. */
  stop(): void;
}

/** Headers larger than this are refused with 431 (the requests we serve are a few hundred bytes). */
const MAX_HEAD_BYTES = 16 * 1024;
/** A client that pipelines requests without reading the answers is cut off beyond this. */
const MAX_PENDING_OUTPUT = 1024 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n");
const REASONS: Readonly<Record<number, string>> = {
  200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
};

interface Connection {
  peer: PeerCred | undefined;
  /** Why this peer is refused; undefined when it is allowed. */
  refusal: string | undefined;
  input: Buffer;
  /** A handler is running: later pipelined requests wait in `input`. */
  busy: boolean;
  pending: Uint8Array | undefined;
  /** This server decided to close once the output is flushed. */
  closeAfterFlush: boolean;
  /** The client shut down its side: answer the complete requests already read, then close. */
  inputEnded: boolean;
  closed: boolean;
}

/**
 * Checks the directory and any stale file at `options.path`, binds the socket under umask 0177
 * and starts serving. Throws CredproxyError (E_LISTEN, E_PLATFORM) without touching anything it
 * does not own.
 *
 * @example
 * const server = await startUnixServer({ path, authorize: (p) => policy.check(p, procProcessTable()), handle: routes, logger });
 * process.on("SIGTERM", () => server.stop());
 */
export async function startUnixServer(options: UnixServerOptions): Promise<UnixServer> {
  const { path, logger } = options;
  const uid = ownUid();
  checkSocketPathShape(path);
  ensurePrivateDir(dirname(path), uid);
  const stale = await clearStaleSocket(path, uid);
  if (stale === "removed-dead-socket") logger.info("removed a dead socket left by an earlier broker", { socket: path });

  const getPeer = options.getPeer ?? ((socket: object) => peerCredentials(socketFd(socket)));
  const idle = options.idleTimeoutSeconds ?? 30;
  const handlers = connectionHandlers(options, getPeer, idle);
  const bind = (at: string): UnixSocketListener<Connection> => {
    try {
      return Bun.listen<Connection>({ unix: at, socket: handlers });
    } catch (error) {
      throw new CredproxyError(ErrorCode.Listen, `Cannot listen on ${path}: ${(error as Error).message} (${(error as { code?: string }).code ?? "error"})`, { cause: error });
    }
  };
  const { listener, identity } = bindThenPublish(path, bind);

  let stopped = false;
  return {
    path,
    replacedStaleSocket: stale === "removed-dead-socket",
    stop() {
      if (stopped) return;
      stopped = true;
      removeIfOurs(path, identity, logger);
      listener.stop(true);
    },
  };
}

/**
 * Binds under a private temporary name in the same directory, then hard-links it to `path`.
 * Two reasons: link() fails if anything appeared at `path` meanwhile, where a bind-then-rename
 * would replace it; and Bun's `stop()` unlinks the path it bound, whatever is there by then, so
 * it must never be `path` (a newer broker's socket, or a file someone put there, would go).
 * A file system without hard links gets a rename after one more check; a path so long that the
 * temporary name (up to 7 bytes longer) would not fit in sun_path is bound directly.
 */
function bindThenPublish(path: string, bind: (at: string) => UnixSocketListener<Connection>): { listener: UnixSocketListener<Connection>; identity: FileIdentity } {
  const staging = join(dirname(path), `.${basename(path).slice(0, 8)}.${randomBytes(4).toString("hex")}`);
  const direct = Buffer.byteLength(staging) > maxSocketPathBytes();
  // umask 0177: the socket is created 0600, never briefly wider (a later chmod leaves a window).
  const listener = withUmask(0o177, () => bind(direct ? path : staging));
  try {
    if (!direct) publish(staging, path);
    const stats = lstatSync(path);
    if (!stats.isSocket() || (stats.mode & 0o077) !== 0) {
      throw new CredproxyError(ErrorCode.Listen, `Cannot listen on ${path} as the socket was created with mode 0${(stats.mode & 0o777).toString(8)}, not 0600`);
    }
    return { listener, identity: { dev: stats.dev, ino: stats.ino } };
  } catch (error) {
    listener.stop(true);
    if (error instanceof CredproxyError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new CredproxyError(ErrorCode.Listen, `Cannot listen on ${path}: ${code === "EEXIST" ? "a file appeared there while the socket was being created" : (error as Error).message}`, {
      cause: error,
      hint: "make sure one broker at a time uses this --socket path",
    });
  }
}

/** link() then unlink the staging name; rename() where the file system has no hard links. */
function publish(staging: string, path: string): void {
  try {
    linkSync(staging, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") {
      unlinkSync(staging);
      throw error;
    }
    try {
      lstatSync(path);
    } catch (missing) {
      if ((missing as NodeJS.ErrnoException).code === "ENOENT") {
        renameSync(staging, path);
        return;
      }
    }
    unlinkSync(staging);
    throw Object.assign(new Error("a file appeared there while the socket was being created"), { code: "EEXIST" });
  }
  unlinkSync(staging);
}

interface FileIdentity {
  dev: number;
  ino: number;
}

/** Unlinks `path` only if it is still the socket this broker created (same device and inode). */
function removeIfOurs(path: string, identity: FileIdentity, logger: Logger): void {
  try {
    const stats = lstatSync(path);
    if (stats.dev === identity.dev && stats.ino === identity.ino) unlinkSync(path);
    else logger.warn("left the socket path alone: it is no longer this broker's socket", { socket: path });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") logger.warn("could not remove the socket", { socket: path, error: (error as Error).message });
  }
}

type Handlers = Parameters<typeof Bun.listen<Connection>>[0]["socket"];

function connectionHandlers(options: UnixServerOptions, getPeer: (socket: object) => PeerCred, idle: number): Handlers {
  const { logger } = options;

  const write = (socket: Socket<Connection>, bytes: Uint8Array): void => {
    const conn = socket.data;
    if (conn.closed) return;
    if (conn.pending) {
      if (conn.pending.length + bytes.length > MAX_PENDING_OUTPUT) {
        conn.closed = true;
        socket.terminate();
        return;
      }
      conn.pending = Buffer.concat([conn.pending, bytes]);
      return;
    }
    const written = socket.write(bytes);
    if (written < 0) conn.closed = true;
    else if (written < bytes.length) conn.pending = Buffer.from(bytes.subarray(written));
  };

  const finishIfDone = (socket: Socket<Connection>): void => {
    const conn = socket.data;
    if ((conn.closeAfterFlush || conn.inputEnded) && !conn.pending && !conn.busy && !conn.closed) {
      conn.closed = true;
      socket.end();
    }
  };

  const respond = (socket: Socket<Connection>, status: number, body: Uint8Array, headers: Record<string, string>, keepAlive: boolean, head: boolean): void => {
    let text = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
    for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
    text += `content-length: ${body.length}\r\nconnection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`;
    const start = Buffer.from(text, "latin1");
    write(socket, head || body.length === 0 ? start : Buffer.concat([start, body]));
    if (!keepAlive) socket.data.closeAfterFlush = true;
    socket.timeout(idle);
  };

  const respondJson = (socket: Socket<Connection>, status: number, code: string, message: string, keepAlive: boolean): void => {
    respond(socket, status, Buffer.from(JSON.stringify({ Code: code, Message: message })), { ...JSON_HEADERS }, keepAlive, false);
  };

  const serve = async (socket: Socket<Connection>, request: ParsedRequest, peer: PeerCred): Promise<void> => {
    const started = performance.now();
    let response: Response;
    try {
      response = await options.handle(request.path, peer);
    } catch (error) {
      logger.error("request handler failed", { error: error instanceof Error ? error.message : String(error), path: request.path });
      response = Response.json({ Code: "InternalError", Message: "internal error" }, { status: 500, headers: JSON_HEADERS });
    }
    const body = new Uint8Array(await response.arrayBuffer());
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name !== "content-length" && name !== "connection" && name !== "transfer-encoding") headers[name] = value;
    });
    respond(socket, response.status, body, headers, request.keepAlive, request.method === "HEAD");
    if (logger.enabled("debug")) {
      logger.debug("request", { pid: peer.pid, uid: peer.uid, method: request.method, path: request.path, status: response.status, duration_ms: Math.round((performance.now() - started) * 100) / 100 });
    }
  };

  const pump = (socket: Socket<Connection>): void => {
    const conn = socket.data;
    while (!conn.busy && !conn.closeAfterFlush && !conn.closed) {
      const end = conn.input.indexOf(HEAD_END);
      if (end < 0 || end > MAX_HEAD_BYTES) {
        if (end > MAX_HEAD_BYTES || conn.input.length > MAX_HEAD_BYTES) respondJson(socket, 431, "RequestTooLarge", "request headers are too large", false);
        break;
      }
      const head = conn.input.subarray(0, end).toString("latin1");
      conn.input = conn.input.subarray(end + HEAD_END.length);
      const request = parseRequestHead(head);
      // A refused peer learns nothing else, not even whether its request parsed.
      if (conn.refusal !== undefined || !conn.peer) {
        respondJson(socket, 403, "AccessDenied", `this broker does not serve this process: ${conn.refusal ?? "unknown peer"}`, false);
      } else if ("error" in request) {
        respondJson(socket, 400, "BadRequest", request.error, false);
      } else if (request.method !== "GET" && request.method !== "HEAD") {
        respond(socket, 405, Buffer.from(JSON.stringify({ Code: "MethodNotAllowed", Message: `${request.method} is not supported` })), { ...JSON_HEADERS, allow: "GET, HEAD" }, request.keepAlive, false);
      } else {
        conn.busy = true;
        const peer = conn.peer;
        serve(socket, request, peer)
          .catch((error: unknown) => {
            // Only a body that cannot be read gets here; the connection is beyond saving.
            logger.error("cannot send a response", { error: error instanceof Error ? error.message : String(error), path: request.path });
            conn.closed = true;
            socket.terminate();
          })
          .finally(() => {
            conn.busy = false;
            pump(socket);
          });
      }
    }
    finishIfDone(socket);
  };

  return {
    open(socket) {
      const conn: Connection = {
        peer: undefined,
        refusal: undefined,
        input: Buffer.alloc(0),
        busy: false,
        pending: undefined,
        closeAfterFlush: false,
        inputEnded: false,
        closed: false,
      };
      socket.data = conn;
      socket.timeout(idle);
      try {
        conn.peer = getPeer(socket);
      } catch (error) {
        conn.refusal = "its peer credentials could not be read";
        logger.error("refused a connection: cannot read its peer credentials", { error: (error as Error).message });
        return;
      }
      const decision = options.authorize(conn.peer);
      if (!decision.allowed) {
        conn.refusal = decision.reason;
        logger.warn("refused a connection", { pid: conn.peer.pid, uid: conn.peer.uid, gid: conn.peer.gid, reason: decision.reason });
      } else if (logger.enabled("debug")) {
        logger.debug("accepted a connection", { pid: conn.peer.pid, uid: conn.peer.uid, gid: conn.peer.gid });
      }
    },
    data(socket, chunk) {
      const conn = socket.data;
      // Copied: the chunk's memory belongs to Bun once this callback returns.
      conn.input = conn.input.length === 0 ? Buffer.from(chunk) : Buffer.concat([conn.input, chunk]);
      socket.timeout(idle);
      pump(socket);
    },
    drain(socket) {
      const conn = socket.data;
      const pending = conn.pending;
      if (!pending || conn.closed) return;
      conn.pending = undefined;
      write(socket, pending);
      finishIfDone(socket);
    },
    end(socket) {
      // The client will send nothing more: answer what is in progress, then close.
      socket.data.inputEnded = true;
      finishIfDone(socket);
    },
    timeout(socket) {
      socket.data.closed = true;
      socket.end();
    },
    close(socket) {
      socket.data.closed = true;
    },
    error(socket, error) {
      socket.data.closed = true;
      logger.debug("connection error", { pid: socket.data.peer?.pid, error: error.message });
    },
  };
}

type ParsedRequest = { method: string; path: string; keepAlive: boolean };

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
