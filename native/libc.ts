/**
 * One shared handle on the C library, opened on first use with exactly the symbols that
 * credproxy's native code calls, plus the two things every caller needs around them: reading
 * `errno` right after a failed call, and an `ErrnoError` that carries its name (`EPERM`).
 *
 * Linux only. `dlopen("libc.so.6")` needs no search path even in a FROM-scratch image: the
 * compiled binary already has glibc loaded as a NEEDED library (reference/bun-platform.md §5.3).
 * Importing this module never opens anything, so it is safe to import on every platform.
 */
import { FFIType, dlopen, read, type Pointer } from "bun:ffi";
import { constants } from "node:os";

/** Thrown when native code is asked for on a platform it does not support, or libc cannot be opened. */
export class NativeUnavailableError extends Error {
  override readonly name = "NativeUnavailableError";
}

/** A failed system call (or a kernel answer carrying a negative errno), named like Node's `SystemError`. */
export class ErrnoError extends Error {
  override readonly name = "ErrnoError";
  /** The positive errno value, e.g. 1. */
  readonly errno: number;
  /** The errno name, e.g. "EPERM"; `E<n>` when the platform has no name for it. */
  readonly code: string;
  /** The call that failed, e.g. "socket" or "netlink RTM_NEWADDR". */
  readonly syscall: string;
  /** Extra text from the kernel, such as a netlink extended-ACK message. */
  readonly detail: string | undefined;

  constructor(syscall: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${syscall} failed: ${code} (errno ${errno})${detail ? `: ${detail}` : ""}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
    this.detail = detail;
  }
}

const SYMBOLS = {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  // The last argument is a socklen_t *: in, the buffer's size; out, how much the kernel wrote.
  getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  // ssize_t results come back as numbers: i64_fast returns a number whenever it fits.
  sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64_fast },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64_fast },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  // open and ioctl are variadic; on x86-64 and arm64 Linux the extra argument travels in the
  // same register as a fixed one, so declaring it fixed is sound (macOS arm64 differs).
  open: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
  // struct pollfd *, nfds_t (unsigned long), timeout in ms
  poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  getuid: { args: [], returns: FFIType.u32 },
  // mode_t is an unsigned int on Linux; umask cannot fail and returns the previous mask.
  umask: { args: [FFIType.u32], returns: FFIType.u32 },
  if_nametoindex: { args: [FFIType.ptr], returns: FFIType.u32 },
  // prctl is variadic in C; glibc reads up to four unsigned longs after the option, and on
  // x86-64 and arm64 Linux variadic integer arguments travel in the same registers, so all
  // five are always passed.
  prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  // struct rlimit *: two rlim_t (u64) values.
  setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  geteuid: { args: [], returns: FFIType.u32 },
  // glibc applies these three to every thread of the process (it signals each one to repeat
  // the system call), unlike the raw system calls, which change only the calling thread.
  setgroups: { args: [FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  setresgid: { args: [FFIType.u32, FFIType.u32, FFIType.u32], returns: FFIType.i32 },
  setresuid: { args: [FFIType.u32, FFIType.u32, FFIType.u32], returns: FFIType.i32 },
  // cap_user_header_t, cap_user_data_t: see native/linux/capability-sets.ts. Per thread.
  capget: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  capset: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  // glibc and musl both export errno's thread-local address under this name.
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

export type Libc = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];

let opened: Libc | undefined;
let errnoAddress: Pointer | undefined;

/**
 * The libc symbols, opened on first call. Throws `NativeUnavailableError` off Linux or when
 * libc.so.6 cannot be opened (a musl-only system, say).
 */
export function libc(): Libc {
  if (opened) return opened;
  if (process.platform !== "linux") {
    throw new NativeUnavailableError(`native/libc.ts supports Linux only: current platform is "${process.platform}"`);
  }
  try {
    opened = dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (error) {
    throw new NativeUnavailableError(`Cannot open libc.so.6 with bun:ffi: ${String(error)}`, { cause: error });
  }
  return opened;
}

/**
 * The current thread's errno. Call it straight after the failing call, with no other FFI call
 * (or `await`) in between: anything that reaches libc may overwrite it. The address is
 * per-thread, and so is this module instance (each Worker loads its own), so caching it is safe.
 */
export function errno(): number {
  if (errnoAddress === undefined) {
    const address = libc().__errno_location();
    if (address === null) return 0;
    errnoAddress = (typeof address === "bigint" ? Number(address) : address) as Pointer;
  }
  return read.i32(errnoAddress, 0);
}

/**
 * Returns `result` when it is not negative; otherwise reads errno at once and throws an
 * `ErrnoError`. Use as `check("socket", lib.socket(...))`.
 */
export function check<T extends number | bigint>(syscall: string, result: T): T {
  if (result >= 0) return result;
  throw new ErrnoError(syscall, errno());
}

/** The errno name for a positive errno value on this platform ("EPERM"), or `E<n>`. */
export function errnoName(value: number): string {
  if (!ERRNO_NAMES) {
    ERRNO_NAMES = new Map();
    for (const [name, number] of Object.entries(constants.errno)) {
      // Aliases share a number (EWOULDBLOCK = EAGAIN, ENOTSUP = EOPNOTSUPP): keep the first.
      if (!ERRNO_NAMES.has(number)) ERRNO_NAMES.set(number, name);
    }
  }
  return ERRNO_NAMES.get(value) ?? `E${value}`;
}
let ERRNO_NAMES: Map<number, string> | undefined;

/** `s` as a NUL-terminated byte string for a `const char *` argument. */
export function cString(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/** The real user id of this process. */
export function getuid(): number {
  return libc().getuid();
}

/**
 * Sets the process's file-creation mask and returns the previous one. The mask is process-wide
 * (every thread), so set it only around a synchronous call and restore it straight after.
 */
export function umask(mask: number): number {
  return libc().umask(mask);
}

/** The index of network interface `name` in this network namespace; throws ErrnoError (ENODEV) if absent. */
export function interfaceIndex(name: string): number {
  const lib = libc();
  const index = lib.if_nametoindex(cString(name));
  if (index === 0) throw new ErrnoError(`if_nametoindex("${name}")`, errno());
  return index;
}
