/**
 * Keeps the process's memory (credentials included) out of core dumps and away from other
 * processes of the same user: `prctl(PR_SET_DUMPABLE, 0)` and `setrlimit(RLIMIT_CORE, {0, 0})`.
 *
 * PR_SET_DUMPABLE 0 is process-wide. Besides stopping core dumps, it makes /proc/<pid>/ of this
 * process root-owned, so a process of the same uid can no longer ptrace it or read its environ,
 * mem or maps; the process itself still can (the kernel lets a thread group at its own
 * /proc entries). A later setresuid() to another uid leaves it at 0. execve() resets it, so
 * children are unaffected.
 *
 * RLIMIT_CORE is inherited by children and survives execve(): with the hard limit at 0 neither
 * this process nor its children can raise it again (nor can another process of the same user
 * with prlimit(2)).
 */
import { check, libc } from "../libc.ts";

/** <linux/prctl.h> and <asm-generic/resource.h> (the same on x86-64 and arm64). */
export const PR_SET_DUMPABLE = 4;
export const PR_GET_DUMPABLE = 3;
export const RLIMIT_CORE = 4;

/** Marks the process non-dumpable and sets both core-size limits to 0. Throws `ErrnoError`. */
export function disableCoreDumps(): void {
  const lib = libc();
  check("prctl(PR_SET_DUMPABLE, 0)", lib.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
  // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }: both 0.
  check("setrlimit(RLIMIT_CORE, 0)", lib.setrlimit(RLIMIT_CORE, new BigUint64Array(2)));
}

/** Whether the process is dumpable (1), or not (0). */
export function dumpable(): number {
  return check("prctl(PR_GET_DUMPABLE)", libc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
}
