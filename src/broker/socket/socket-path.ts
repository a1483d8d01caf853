/**
 * Where the broker's unix socket lives and the rules for its file, shared by `broker serve`
 * (which creates it) and `broker credential-process` (which connects to it).
 *
 * The rules answer the flaws listed in reference/aws-credential-protocols.md §6: the socket sits
 * in a directory only its owner can enter (not a predictable name in a shared /tmp), and a file
 * already at the path is removed only when it is provably a dead socket of ours, never a
 * regular file or a symlink someone planted there.
 */
import { lstatSync, mkdirSync, unlinkSync, type Stats } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { CredproxyError, ErrorCode } from "../../errors.ts";

export const SOCKET_FILE_NAME = "broker.sock";

/** sun_path holds 108 bytes on Linux, 104 on macOS, including the terminating NUL. */
export function maxSocketPathBytes(platform: string = process.platform): number {
  return platform === "linux" ? 107 : 103;
}

/**
 * `$XDG_RUNTIME_DIR/credproxy/broker.sock` (a per-user 0700 tmpfs on systemd machines), else
 * `<tmpdir>/credproxy-<uid>/broker.sock`. Both `serve` and `credential-process` use it.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env, uid: number = ownUid(), tmp: string = tmpdir()): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) return join(runtime, "credproxy", SOCKET_FILE_NAME);
  return join(tmp, `credproxy-${uid}`, SOCKET_FILE_NAME);
}

/** Throws E_USAGE unless `path` is absolute and fits in sun_path. */
export function checkSocketPathShape(path: string, platform: string = process.platform): void {
  if (!isAbsolute(path)) {
    throw new CredproxyError(ErrorCode.Usage, `Cannot use socket path "${path}" as it is not absolute`, { hint: "give a full path, e.g. $XDG_RUNTIME_DIR/credproxy/broker.sock" });
  }
  const bytes = Buffer.byteLength(path);
  if (bytes > maxSocketPathBytes(platform)) {
    throw new CredproxyError(ErrorCode.Usage, `Cannot use socket path "${path}" as it is ${bytes} bytes long: the limit is ${maxSocketPathBytes(platform)}`, {
      hint: "choose a shorter --socket path",
    });
  }
}

/**
 * Makes sure `dir` exists, is a real directory (not a symlink), belongs to `uid` and is closed
 * to group and others. A missing directory is created with mode 0700; an existing one that
 * fails a check is refused (E_LISTEN), never changed.
 */
export function ensurePrivateDir(dir: string, uid: number): void {
  let stats = lstatOrUndefined(dir);
  if (!stats) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new CredproxyError(ErrorCode.Listen, `Cannot create the socket directory ${dir}: ${(error as Error).message}`, { cause: error });
    }
    stats = lstatSync(dir);
  }
  const refuse = (why: string, hint: string) => new CredproxyError(ErrorCode.Listen, `Cannot use ${dir} for the broker socket as it ${why}`, { hint });
  const elsewhere = "or choose another --socket path";
  if (stats.isSymbolicLink()) throw refuse("is a symbolic link", `point --socket at the real directory, ${elsewhere}`);
  if (!stats.isDirectory()) throw refuse("is not a directory", `remove it, ${elsewhere}`);
  if (stats.uid !== uid) throw refuse(`belongs to uid ${stats.uid}, not to this user (uid ${uid})`, `someone else may control it: remove it, ${elsewhere}`);
  const mode = stats.mode & 0o777;
  if ((mode & 0o077) !== 0) throw refuse(`is open to group or others (mode ${octal(mode)})`, `run "chmod 700 ${dir}", ${elsewhere}`);
  if ((mode & 0o700) !== 0o700) throw refuse(`is not usable by its owner (mode ${octal(mode)})`, `run "chmod 700 ${dir}", ${elsewhere}`);
}

export type StalePathOutcome = "absent" | "removed-dead-socket";

/**
 * Clears the way for binding `path`, whose directory `ensurePrivateDir` has already checked:
 * nothing there is fine; a socket owned by `uid` that nobody answers on is removed (a broker
 * that died without cleaning up); anything else is refused with E_LISTEN and left untouched:
 * a live socket, someone else's socket, a regular file, a symlink, a directory.
 */
export async function clearStaleSocket(path: string, uid: number, probeTimeoutMs = 1000): Promise<StalePathOutcome> {
  const stats = lstatOrUndefined(path);
  if (!stats) return "absent";
  const refuse = (why: string, hint: string) => new CredproxyError(ErrorCode.Listen, `Cannot listen on ${path} as ${why}`, { hint });
  if (!stats.isSocket()) {
    throw refuse(`it is ${describeFile(stats)}, not a socket; it was left untouched`, "remove it yourself if it is not needed, or choose another --socket path");
  }
  if (stats.uid !== uid) throw refuse(`the socket there belongs to uid ${stats.uid}`, "choose another --socket path");
  const verdict = await probe(path, probeTimeoutMs);
  if (verdict === "live") throw refuse("another process is listening on it", "stop the other broker first, or choose another --socket path");
  if (verdict !== "dead") throw refuse(`connecting to it to see whether it is in use failed with ${verdict}`, "remove it yourself if it is stale");
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  return "removed-dead-socket";
}

/**
 * The client's check before connecting: `path` must be a socket owned by `uid` or by root. A
 * socket anyone else owns could belong to an impostor handing out its own credentials.
 */
export function checkBrokerSocket(path: string, uid: number): void {
  const stats = lstatOrUndefined(path);
  const fail = (why: string, hint: string) => new CredproxyError(ErrorCode.SourceCredentials, `Cannot get credentials from ${path} as ${why}`, { hint });
  if (!stats) throw fail("nothing is there", "start the broker with `credproxy broker serve`, or pass the --socket it listens on");
  if (!stats.isSocket()) throw fail(`it is ${describeFile(stats)}, not a socket`, "pass the --socket the broker listens on");
  if (stats.uid !== uid && stats.uid !== 0) throw fail(`the socket belongs to uid ${stats.uid}, not to this user (uid ${uid}) or root`, "use a broker run by your own user");
}

/** This process's uid (-1 where the platform has none). */
export function ownUid(): number {
  return process.getuid?.() ?? -1;
}

/**
 * Connects once: "live" when something accepts, "dead" on ECONNREFUSED (a socket file with no
 * listener behind it), otherwise the error code.
 */
function probe(path: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    const done = (verdict: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(verdict);
    };
    // No answer in time counts as live: removing a busy broker's socket would strand it.
    const timer = setTimeout(() => done("live"), timeoutMs);
    socket.once("connect", () => done("live"));
    socket.once("error", (error: NodeJS.ErrnoException) => done(error.code === "ECONNREFUSED" || error.code === "ENOENT" ? "dead" : (error.code ?? error.message)));
  });
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CredproxyError(ErrorCode.Listen, `Cannot inspect ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function describeFile(stats: Stats): string {
  if (stats.isSymbolicLink()) return "a symbolic link";
  if (stats.isFile()) return "a regular file";
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a named pipe";
  return "a special file";
}

function octal(mode: number): string {
  return "0" + mode.toString(8).padStart(3, "0");
}
