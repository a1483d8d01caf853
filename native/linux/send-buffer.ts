/**
 * A socket's send buffer size: `setsockopt(fd, SOL_SOCKET, SO_SNDBUF, int)`, read back with
 * getsockopt. Linux doubles the value asked for (the extra half is its bookkeeping) and clamps
 * it to at least 4608 bytes, so the answer is what the kernel really uses. socket(7).
 */
import { check, libc } from "../libc.ts";
import { SOL_SOCKET } from "./peercred.ts";

/** `<asm-generic/socket.h>`, the same on x86-64 and arm64. */
const SO_SNDBUF = 7;

/** Asks for a send buffer of `bytes` on socket `fd`; returns the size the kernel set. Throws ErrnoError. */
export function setSendBuffer(fd: number, bytes: number): number {
  const lib = libc();
  check("setsockopt(SO_SNDBUF)", lib.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, new Int32Array([bytes]), 4));
  const value = new Int32Array(1);
  check("getsockopt(SO_SNDBUF)", lib.getsockopt(fd, SOL_SOCKET, SO_SNDBUF, value, new Uint32Array([4])));
  return value[0]!;
}
