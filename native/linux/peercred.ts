/**
 * The credentials of the process at the other end of a connected unix socket, as the kernel
 * recorded them at connect() time: `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)` → struct ucred.
 *
 * They cannot be forged by the peer (unlike anything it sends), which is what makes them fit
 * for authorisation. Verified from the compiled binary against a client started through
 * `setpriv --reuid` (reference/bun-platform.md §5.1).
 */
import { ErrnoError, check, libc } from "../libc.ts";

/** `<asm-generic/socket.h>`: the values for x86-64 and arm64 (not mips, powerpc, sparc or parisc). */
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;

/** `struct ucred { pid_t pid; uid_t uid; gid_t gid; }`: three 32-bit fields. */
const UCRED_SIZE = 12;

export interface Ucred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * SO_PEERCRED of the connected unix socket `fd`. Throws `ErrnoError` (ENOTSOCK, EBADF, …) when
 * the call fails, and `NativeUnavailableError` where libc cannot be opened.
 */
export function peerCred(fd: number): Ucred {
  const ucred = new Int32Array(UCRED_SIZE / 4);
  const length = new Uint32Array([UCRED_SIZE]);
  check("getsockopt(SO_PEERCRED)", libc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, length));
  // A shorter answer would leave zeros behind, and uid 0 is root: never read it as one.
  if (length[0] !== UCRED_SIZE) throw new ErrnoError("getsockopt(SO_PEERCRED)", 22, `expected ${UCRED_SIZE} bytes, got ${length[0]}`);
  // uid_t and gid_t are unsigned: (uid_t)-1 is 4294967295, not -1.
  return { pid: ucred[0]!, uid: ucred[1]! >>> 0, gid: ucred[2]! >>> 0 };
}
