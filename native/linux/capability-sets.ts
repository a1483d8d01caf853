/**
 * The capget/capset structures, pure, so the byte layout is tested without privileges
 * (capability-sets.test.ts). From <linux/capability.h>, version 3 (64-bit sets, Linux 2.6.26+):
 *
 *   struct __user_cap_header_struct { __u32 version; int pid; };            // 8 bytes
 *   struct __user_cap_data_struct { __u32 effective, permitted, inheritable; } data[2];
 *
 * data[0] holds capabilities 0..31 and data[1] 32..63. pid 0 means the calling thread:
 * capabilities belong to threads, not processes.
 */

export const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** The capability numbers credproxy names (<linux/capability.h>). */
export const CAP_SETGID = 6;
export const CAP_SETUID = 7;
export const CAP_SETPCAP = 8;
export const CAP_NET_ADMIN = 12;

/** Names by number, as capabilities(7) spells them; index = capability number. */
export const CAP_NAMES: readonly string[] = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
  "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/** One thread's three capability sets as 64-bit masks (bit n = capability n). */
export interface CapSets {
  readonly effective: bigint;
  readonly permitted: bigint;
  readonly inheritable: bigint;
}

/** The mask with exactly `caps` set. */
export function capMask(caps: readonly number[]): bigint {
  return caps.reduce((mask, cap) => mask | (1n << BigInt(cap)), 0n);
}

/** Whether capability `cap` is in `mask`. */
export function hasCap(mask: bigint, cap: number): boolean {
  return (mask & (1n << BigInt(cap))) !== 0n;
}

/** The names of the capabilities in `mask`, lowest first ("CAP_43" for one newer than this list). */
export function capNames(mask: bigint): string[] {
  const names: string[] = [];
  for (let cap = 0; cap < 64; cap++) if (hasCap(mask, cap)) names.push(CAP_NAMES[cap] ?? `CAP_${cap}`);
  return names;
}

/** The header for thread `pid` (0: the calling thread). */
export function capHeader(pid = 0): Uint32Array {
  return new Uint32Array([LINUX_CAPABILITY_VERSION_3, pid >>> 0]);
}

/** data[2] for capset: [eff, prm, inh] of capabilities 0..31, then the same of 32..63. */
export function encodeCapData(sets: CapSets): Uint32Array {
  const low = (mask: bigint) => Number(mask & 0xffffffffn);
  const high = (mask: bigint) => Number((mask >> 32n) & 0xffffffffn);
  return new Uint32Array([
    low(sets.effective), low(sets.permitted), low(sets.inheritable),
    high(sets.effective), high(sets.permitted), high(sets.inheritable),
  ]);
}

/** The sets from data[2] as capget filled it. */
export function decodeCapData(data: Uint32Array): CapSets {
  if (data.length !== 6) throw new RangeError(`capability data has ${data.length} words, expected 6`);
  const join = (low: number, high: number) => (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  return { effective: join(data[0]!, data[3]!), permitted: join(data[1]!, data[4]!), inheritable: join(data[2]!, data[5]!) };
}

/**
 * The capability lines of a /proc/<pid>/status or /proc/<pid>/task/<tid>/status text:
 * CapInh, CapPrm, CapEff, CapBnd and CapAmb as masks, plus Uid/Gid (real, effective, saved,
 * filesystem) and NoNewPrivs.
 */
export function parseProcStatus(text: string): ProcStatus {
  const field = (name: string): string => {
    const line = text.split("\n").find((l) => l.startsWith(`${name}:`));
    if (line === undefined) throw new Error(`/proc status has no ${name} line`);
    return line.slice(name.length + 1).trim();
  };
  const mask = (name: string) => BigInt(`0x${field(name)}`);
  const ids = (name: string) => field(name).split(/\s+/).map(Number);
  return {
    uid: ids("Uid"), gid: ids("Gid"),
    groups: field("Groups") === "" ? [] : field("Groups").split(/\s+/).map(Number),
    inheritable: mask("CapInh"), permitted: mask("CapPrm"), effective: mask("CapEff"), bounding: mask("CapBnd"), ambient: mask("CapAmb"),
    noNewPrivs: Number(field("NoNewPrivs")),
  };
}

export interface ProcStatus {
  readonly uid: number[];
  readonly gid: number[];
  readonly groups: number[];
  readonly inheritable: bigint;
  readonly permitted: bigint;
  readonly effective: bigint;
  readonly bounding: bigint;
  readonly ambient: bigint;
  readonly noNewPrivs: number;
}
