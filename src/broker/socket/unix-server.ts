/**
 * The broker's unix-socket listener: a socket file that is mode 0600 from the moment it
 * exists, in a directory only its owner can enter, and a peer-credential check on every
 * connection before any request on it is answered. Allowed peers get a small HTTP/1.1 server
 * (GET and HEAD, keep-alive, pipelining, no request bodies; http-connection.ts) in front of
 * `handle`; refused ones get one 403 JSON answer and the connection is closed.
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
import type { UnixSocketListener } from "bun";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { peerCredentials, socketFd, type PeerCred } from "../../net/peer-credentials.ts";
import { withUmask } from "../../net/umask.ts";
import { HttpConnection } from "../../http/http-connection.ts";
import type { PeerDecision } from "./peer-policy.ts";
import { checkSocketPathShape, clearStaleSocket, ensurePrivateDir, maxSocketPathBytes, ownUid } from "./socket-path.ts";

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
  /** A request head must be complete this long after its first byte, however it trickles in. Default 30 s. */
  readonly headTimeoutSeconds?: number | undefined;
}

export interface UnixServer {
  readonly path: string;
  /** Whether start-up removed a dead socket a previous broker left behind. */
  readonly replacedStaleSocket: boolean;
  /** Closes every connection and removes the socket file, if it is still ours. Idempotent. */
  stop(): void;
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
  const handlers = connectionHandlers(options, getPeer);
  const bind = (at: string): UnixSocketListener<HttpConnection> => {
    try {
      return Bun.listen<HttpConnection>({ unix: at, socket: handlers });
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
function bindThenPublish(path: string, bind: (at: string) => UnixSocketListener<HttpConnection>): { listener: UnixSocketListener<HttpConnection>; identity: FileIdentity } {
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

type Handlers = Parameters<typeof Bun.listen<HttpConnection>>[0]["socket"];

/** Judges each connection's peer once, on open; the HTTP/1.1 on it is HttpConnection's. */
function connectionHandlers(options: UnixServerOptions, getPeer: (socket: object) => PeerCred): Handlers {
  const { logger } = options;
  // The connection keeps its own deadlines: Bun's socket timeout restarts on every byte read.
  const http = { handle: options.handle, logger, idleTimeoutSeconds: options.idleTimeoutSeconds, headTimeoutSeconds: options.headTimeoutSeconds };
  return {
    open(socket) {
      const conn = new HttpConnection(socket, http);
      socket.data = conn;
      let peer: PeerCred;
      try {
        peer = getPeer(socket);
      } catch (error) {
        conn.refuse("its peer credentials could not be read", undefined);
        logger.error("refused a connection: cannot read its peer credentials", { error: (error as Error).message });
        return;
      }
      const decision = options.authorize(peer);
      if (!decision.allowed) {
        conn.refuse(decision.reason, peer);
        logger.warn("refused a connection", { pid: peer.pid, uid: peer.uid, gid: peer.gid, reason: decision.reason });
      } else {
        conn.admit(peer);
        if (logger.enabled("debug")) logger.debug("accepted a connection", { pid: peer.pid, uid: peer.uid, gid: peer.gid });
      }
    },
    data: (socket, chunk) => socket.data.receive(chunk),
    drain: (socket) => socket.data.drain(),
    end: (socket) => socket.data.endOfInput(),
    close: (socket) => socket.data.closed(),
    error: (socket, error) => socket.data.failed(error),
  };
}
