/**
 * Who is at the other end of a unix-socket connection, as the kernel saw it at connect() time:
 * the one platform surface `broker serve` authorises with (STYLE.md §9). Linux reads
 * SO_PEERCRED; macOS reads LOCAL_PEERCRED + LOCAL_PEERPID (unverified: never run on a Mac);
 * anything else gets E_PLATFORM.
 */
import { ErrnoError, NativeUnavailableError, libc } from "../../native/libc.ts";
import { peerCred as darwinPeerCred } from "../../native/darwin/peercred.ts";
import { peerCred as linuxPeerCred } from "../../native/linux/peercred.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";

/** The connecting process, as the kernel recorded it; the peer cannot forge any of it. */
export interface PeerCred {
  readonly pid: number;
  /** Effective uid at connect() time. */
  readonly uid: number;
  readonly gid: number;
}

/** Platforms with a peer-credential implementation; `verified` says whether it was ever run there. */
const IMPLEMENTATIONS: Readonly<Record<string, { read: (fd: number) => PeerCred; verified: boolean }>> = {
  linux: { read: linuxPeerCred, verified: true },
  darwin: { read: darwinPeerCred, verified: false },
};

/**
 * The peer credentials of the connected unix socket `fd`. Throws CredproxyError E_PLATFORM when
 * the platform has no implementation or the call fails; callers must then refuse the peer.
 */
export function peerCredentials(fd: number, platform: string = process.platform): PeerCred {
  const implementation = IMPLEMENTATIONS[platform];
  if (!implementation) throw unsupported(platform);
  try {
    return implementation.read(fd);
  } catch (error) {
    const why = error instanceof ErrnoError || error instanceof NativeUnavailableError ? error.message : String(error);
    throw new CredproxyError(ErrorCode.Platform, `Cannot read the peer credentials of socket fd ${fd}: ${why}`, { cause: error });
  }
}

/**
 * Throws E_PLATFORM now, before a socket is opened, when `peerCredentials()` cannot work here:
 * an unsupported OS, or a Linux without glibc's libc.so.6 (a musl-only image).
 */
export function assertPeerCredentialsAvailable(platform: string = process.platform): void {
  if (!IMPLEMENTATIONS[platform]) throw unsupported(platform);
  if (platform !== "linux") return;
  try {
    libc();
  } catch (error) {
    throw new CredproxyError(ErrorCode.Platform, `Cannot read unix-socket peer credentials as libc is unavailable: ${(error as Error).message}`, {
      cause: error,
      hint: "run the glibc build of credproxy (the release binaries and the scratch image are glibc)",
    });
  }
}

/** Whether this platform's implementation has been run for real (false on macOS: written, not tested). */
export function peerCredentialsVerified(platform: string = process.platform): boolean {
  return IMPLEMENTATIONS[platform]?.verified ?? false;
}

/**
 * The file descriptor of an accepted socket: `.fd` on a `Bun.listen` socket, `._handle.fd` on a
 * `node:net` one (neither is in the type definitions; reference/bun-platform.md §5.1).
 */
export function socketFd(socket: object): number {
  const own = (socket as { fd?: unknown }).fd;
  const handle = (socket as { _handle?: { fd?: unknown } | null })._handle?.fd;
  const fd = typeof own === "number" ? own : handle;
  if (typeof fd !== "number" || !Number.isInteger(fd) || fd < 0) {
    throw new CredproxyError(ErrorCode.Platform, "Cannot read the peer credentials as the accepted socket exposes no file descriptor");
  }
  return fd;
}

function unsupported(platform: string): CredproxyError {
  return new CredproxyError(ErrorCode.Platform, `Cannot check who connects to a unix socket as peer credentials are not implemented here: current platform is "${platform}"`, {
    hint: "run broker serve on Linux (or macOS, unverified); elsewhere use broker exec or broker imds",
  });
}
