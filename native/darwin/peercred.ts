/**
 * macOS peer credentials of a connected unix socket: `getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED)`
 * → struct xucred (uid and groups) plus `LOCAL_PEERPID` → pid_t.
 *
 * UNVERIFIED: written from <sys/un.h> and <sys/ucred.h> (XNU), never run on a Mac
 * (reference/aws-credential-protocols.md §6, §8.5). Treat it as a starting point.
 */
import { FFIType, dlopen, read, type Pointer } from "bun:ffi";
import { ErrnoError, NativeUnavailableError } from "../libc.ts";

/** <sys/un.h>: SOL_LOCAL is 0; LOCAL_PEERCRED 0x001, LOCAL_PEERPID 0x002. */
export const SOL_LOCAL = 0;
export const LOCAL_PEERCRED = 0x001;
export const LOCAL_PEERPID = 0x002;

/**
 * `struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; }`:
 * 4 + 4 + 2 (+2 padding) + 16 * 4 = 76 bytes. cr_groups[0] is the effective gid.
 */
const XUCRED_SIZE = 76;
const XUCRED_VERSION = 0;

const SYMBOLS = {
  getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  __error: { args: [], returns: FFIType.ptr },
} as const;

let opened: ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"] | undefined;

function libSystem(): NonNullable<typeof opened> {
  if (opened) return opened;
  if (process.platform !== "darwin") throw new NativeUnavailableError(`native/darwin is macOS-only: current platform is "${process.platform}"`);
  try {
    opened = dlopen("/usr/lib/libSystem.B.dylib", SYMBOLS).symbols;
  } catch (error) {
    throw new NativeUnavailableError(`Cannot open libSystem with bun:ffi: ${String(error)}`, { cause: error });
  }
  return opened;
}

function fail(syscall: string): never {
  const address = libSystem().__error();
  const errno = address === null ? 0 : read.i32((typeof address === "bigint" ? Number(address) : address) as Pointer, 0);
  throw new ErrnoError(syscall, errno);
}

/** LOCAL_PEERCRED + LOCAL_PEERPID of the connected unix socket `fd`. */
export function peerCred(fd: number): { pid: number; uid: number; gid: number } {
  const lib = libSystem();
  const xucred = new DataView(new ArrayBuffer(XUCRED_SIZE));
  const length = new Uint32Array([XUCRED_SIZE]);
  if (lib.getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, new Uint8Array(xucred.buffer), length) < 0) fail("getsockopt(LOCAL_PEERCRED)");
  if (xucred.getUint32(0, true) !== XUCRED_VERSION) throw new ErrnoError("getsockopt(LOCAL_PEERCRED)", 22, "unexpected xucred version");
  const pid = new Int32Array(1);
  const pidLength = new Uint32Array([4]);
  if (lib.getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, pid, pidLength) < 0) fail("getsockopt(LOCAL_PEERPID)");
  if (xucred.getInt16(8, true) < 1) throw new ErrnoError("getsockopt(LOCAL_PEERCRED)", 22, "xucred carries no groups");
  return { pid: pid[0]!, uid: xucred.getUint32(4, true), gid: xucred.getUint32(12, true) };
}
