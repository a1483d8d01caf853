/**
 * Giving up privileges: the uid/gid switch, the capability sets and the prctl flags around them.
 *
 * Linux keeps credentials per thread. glibc's setgroups/setresgid/setresuid change every thread
 * of the process (glibc signals each thread to repeat the system call); capset, PR_SET_KEEPCAPS,
 * PR_CAPBSET_DROP, PR_CAP_AMBIENT and PR_SET_NO_NEW_PRIVS change only the calling thread. The
 * order that uses this is in src/platform/drop-privileges.ts.
 */
import { ErrnoError, check, errno, libc } from "../libc.ts";
import { capHeader, decodeCapData, encodeCapData, hasCap, type CapSets } from "./capability-sets.ts";

/** <linux/prctl.h>. */
export const PR_SET_KEEPCAPS = 8;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
const EINVAL = 22;

/** The effective uid of the calling thread. */
export function effectiveUid(): number {
  return libc().geteuid();
}

/** The calling thread's effective, permitted and inheritable sets (capget). */
export function threadCapabilities(): CapSets {
  const data = new Uint32Array(6);
  check("capget", libc().capget(capHeader(0), data));
  return decodeCapData(data);
}

/** Sets the calling thread's three sets (capset); the kernel refuses to add what is not permitted. */
export function setThreadCapabilities(sets: CapSets): void {
  check("capset", libc().capset(capHeader(0), encodeCapData(sets)));
}

/** The calling thread's bounding set, read one capability at a time up to the kernel's last one. */
export function boundingSet(): bigint {
  const lib = libc();
  let mask = 0n;
  for (let cap = 0; cap < 64; cap++) {
    const inSet = lib.prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (inSet < 0) break; // EINVAL: past the kernel's last capability
    if (inSet === 1) mask |= 1n << BigInt(cap);
  }
  return mask;
}

/**
 * Removes every capability but those in `keep` from the calling thread's bounding set (needs
 * CAP_SETPCAP). Returns what it removed.
 */
export function dropBoundingSet(keep: bigint): bigint {
  const lib = libc();
  const present = boundingSet();
  let dropped = 0n;
  for (let cap = 0; cap < 64; cap++) {
    if (!hasCap(present, cap) || hasCap(keep, cap)) continue;
    check(`prctl(PR_CAPBSET_DROP, ${cap})`, lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0));
    dropped |= 1n << BigInt(cap);
  }
  return dropped;
}

/** PR_SET_KEEPCAPS for the calling thread: whether its permitted set survives leaving uid 0. */
export function setKeepCapabilities(keep: boolean): void {
  check("prctl(PR_SET_KEEPCAPS)", libc().prctl(PR_SET_KEEPCAPS, keep ? 1 : 0, 0, 0, 0));
}

/** Empties the calling thread's ambient set; a no-op on kernels before 4.3, which have none. */
export function clearAmbientCapabilities(): void {
  if (libc().prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) >= 0) return;
  const code = errno();
  if (code !== EINVAL) throw new ErrnoError("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", code);
}

/** PR_SET_NO_NEW_PRIVS for the calling thread: execve() can no longer grant privileges (setuid bits, file caps). */
export function setNoNewPrivileges(): void {
  check("prctl(PR_SET_NO_NEW_PRIVS, 1)", libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}

/**
 * Becomes `uid`/`gid` (real, effective and saved) with no supplementary groups, in every thread
 * (glibc broadcasts these calls). Needs CAP_SETGID and CAP_SETUID. The group goes first: once
 * the uid has changed, the capability to change it is gone.
 */
export function switchUser(uid: number, gid: number): void {
  const lib = libc();
  check("setgroups(0)", lib.setgroups(0, null));
  check(`setresgid(${gid})`, lib.setresgid(gid, gid, gid));
  check(`setresuid(${uid})`, lib.setresuid(uid, uid, uid));
}
