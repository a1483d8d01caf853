/**
 * macOS: `setrlimit(RLIMIT_CORE, {0, 0})`, so a crash leaves no core file holding credentials.
 * macOS has no PR_SET_DUMPABLE; its closest relative, ptrace(PT_DENY_ATTACH), is not used.
 *
 * UNVERIFIED: written from <sys/resource.h> (RLIMIT_CORE is 4, rlim_t a 64-bit unsigned),
 * never run on a Mac. Opens libSystem with this one symbol, on first call.
 */
import { FFIType, dlopen } from "bun:ffi";
import { ErrnoError, NativeUnavailableError } from "../libc.ts";

export const RLIMIT_CORE = 4;

const SYMBOLS = { setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } } as const;

/** Sets both core-size limits to 0. Throws `NativeUnavailableError` off macOS, `ErrnoError` on failure. */
export function disableCoreFiles(): void {
  if (process.platform !== "darwin") throw new NativeUnavailableError(`native/darwin is macOS-only: current platform is "${process.platform}"`);
  let lib: ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];
  try {
    lib = dlopen("/usr/lib/libSystem.B.dylib", SYMBOLS).symbols;
  } catch (error) {
    throw new NativeUnavailableError(`Cannot open libSystem with bun:ffi: ${String(error)}`, { cause: error });
  }
  // errno is not read: the only documented failures (EFAULT, EINVAL, EPERM) cannot happen when
  // lowering both limits to 0.
  if (lib.setrlimit(RLIMIT_CORE, new BigUint64Array(2)) < 0) throw new ErrnoError("setrlimit(RLIMIT_CORE, 0)", 0);
}
