/**
 * The bytes a macOS utun needs, as pure functions: the kernel-control structs, the ioctl
 * number, the 4-byte address-family header on every packet, and the argument list that gets a
 * variadic ioctl's third argument to where Apple's arm64 ABI looks for it. native/darwin/utun.ts
 * makes the calls; the tests pin every number here, since no Mac runs them yet.
 *
 * Where each value comes from (XNU, apple-oss-distributions/xnu and apple/darwin-xnu):
 * - bsd/sys/socket.h: AF_INET 2, AF_INET6 30, AF_SYSTEM 32 (PF_SYSTEM = AF_SYSTEM),
 *   SOCK_DGRAM 2, MSG_DONTWAIT 0x80;
 * - bsd/sys/sys_domain.h: SYSPROTO_CONTROL 2, AF_SYS_CONTROL 2;
 * - bsd/sys/kern_control.h: MAX_KCTL_NAME 96, `struct ctl_info { u_int32_t ctl_id; char
 *   ctl_name[MAX_KCTL_NAME]; }`, `struct sockaddr_ctl { u_char sc_len; u_char sc_family;
 *   u_int16_t ss_sysaddr; u_int32_t sc_id; u_int32_t sc_unit; u_int32_t sc_reserved[5]; }`,
 *   CTLIOCGINFO `_IOWR('N', 3, struct ctl_info)`;
 * - bsd/sys/ioccom.h: `_IOC(inout, group, num, len) = inout | (len & IOCPARM_MASK) << 16 |
 *   group << 8 | num`, IOCPARM_MASK 0x1fff, IOC_VOID 0x20000000, IOC_OUT 0x40000000, IOC_IN
 *   0x80000000;
 * - bsd/sys/filio.h: FIOCLEX `_IO('f', 1)`;
 * - bsd/net/if_utun.h: UTUN_CONTROL_NAME "com.apple.net.utun_control", UTUN_OPT_IFNAME 2;
 * - bsd/sys/errno.h: EINTR 4, EAGAIN 35.
 * reference/ssm-tunnel.md §5 lists the same values.
 */

export const AF_INET = 2;
export const AF_INET6 = 30;
export const AF_SYSTEM = 32;
export const PF_SYSTEM = AF_SYSTEM;
export const SOCK_DGRAM = 2;
export const SYSPROTO_CONTROL = 2;
export const AF_SYS_CONTROL = 2;
export const MSG_DONTWAIT = 0x80;
export const EINTR = 4;
export const EAGAIN = 35;
export const UTUN_CONTROL_NAME = "com.apple.net.utun_control";
export const UTUN_OPT_IFNAME = 2;
export const MAX_KCTL_NAME = 96;
/** IFNAMSIZ (net/if.h): the buffer UTUN_OPT_IFNAME fills, NUL included. */
export const IFNAMSIZ = 16;

export const CTL_INFO_SIZE = 4 + MAX_KCTL_NAME;
export const SOCKADDR_CTL_SIZE = 32;
/** The big-endian address family in front of every utun packet. */
export const AF_HEADER_SIZE = 4;

const IOCPARM_MASK = 0x1fff;
const IOC_VOID = 0x20000000;
const IOC_OUT = 0x40000000;
const IOC_IN = 0x80000000;

/** BSD `_IOC()`: direction bits, parameter size, group letter, number. Unsigned. */
export function ioctlNumber(direction: "none" | "read" | "write" | "readwrite", group: string, num: number, size: number): number {
  const bits = { none: IOC_VOID, read: IOC_OUT, write: IOC_IN, readwrite: IOC_IN | IOC_OUT }[direction];
  return (bits | ((size & IOCPARM_MASK) << 16) | (group.charCodeAt(0) << 8) | num) >>> 0;
}

/** `_IOWR('N', 3, struct ctl_info)`: kernel-control name → id. 0xc0644e03. */
export const CTLIOCGINFO = ioctlNumber("readwrite", "N", 3, CTL_INFO_SIZE);
/** `_IO('f', 1)`: set close-on-exec. It takes no argument, so the variadic slot is never read. */
export const FIOCLEX = ioctlNumber("none", "f", 1, 0);

/** A zeroed `struct ctl_info` asking for `name` (NUL-terminated; at most 95 bytes). */
export function ctlInfo(name: string): Uint8Array {
  const bytes = new TextEncoder().encode(name);
  if (bytes.byteLength >= MAX_KCTL_NAME) throw new RangeError(`kernel control name "${name}" is longer than ${MAX_KCTL_NAME - 1} bytes`);
  const info = new Uint8Array(CTL_INFO_SIZE);
  info.set(bytes, 4);
  return info;
}

/** ctl_id from a `struct ctl_info` CTLIOCGINFO filled in (host order: little-endian on every Mac). */
export function ctlIdOf(info: Uint8Array): number {
  return new DataView(info.buffer, info.byteOffset, info.byteLength).getUint32(0, true);
}

/**
 * `struct sockaddr_ctl` for connect(): control `id`, `unit` 0 for "the next free utun", or N + 1
 * for utunN. Multi-byte fields in host order (little-endian); the reserved words stay zero.
 */
export function sockaddrCtl(id: number, unit: number): Uint8Array {
  const address = new Uint8Array(SOCKADDR_CTL_SIZE);
  const view = new DataView(address.buffer);
  view.setUint8(0, SOCKADDR_CTL_SIZE);
  view.setUint8(1, AF_SYSTEM);
  view.setUint16(2, AF_SYS_CONTROL, true);
  view.setUint32(4, id, true);
  view.setUint32(8, unit, true);
  return address;
}

/** The connect() unit for a requested name: "utun7" → 8, anything else → 0 (the kernel picks). */
export function utunUnit(name: string | undefined): number {
  const match = name === undefined ? null : /^utun(\d{1,5})$/.exec(name);
  return match ? Number(match[1]) + 1 : 0;
}

/** The NUL-terminated name UTUN_OPT_IFNAME wrote into `buffer`. */
export function interfaceNameOf(buffer: Uint8Array, length: number): string {
  const bytes = buffer.subarray(0, Math.min(length, buffer.byteLength));
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end));
}

/**
 * `packet` with the 4-byte big-endian address family in front, as utun wants it on every write
 * (AF_INET for IPv4, AF_INET6 = 30 for IPv6, from the IP version nibble); undefined for
 * anything that is not an IPv4 or IPv6 packet, which the caller counts as a refused write.
 */
export function withAfHeader(packet: Uint8Array): Uint8Array | undefined {
  const version = (packet[0] ?? 0) >> 4;
  const family = version === 4 ? AF_INET : version === 6 ? AF_INET6 : undefined;
  if (family === undefined) return undefined;
  const framed = new Uint8Array(AF_HEADER_SIZE + packet.byteLength);
  new DataView(framed.buffer).setUint32(0, family, false);
  framed.set(packet, AF_HEADER_SIZE);
  return framed;
}

/**
 * The packet in the first `length` bytes utun read into `buffer`, without its address-family
 * header, as a copy; undefined when the read is too short or the family is neither AF_INET nor
 * AF_INET6 (nothing the tunnel could carry).
 */
export function withoutAfHeader(buffer: Uint8Array, length: number): Uint8Array<ArrayBuffer> | undefined {
  if (length <= AF_HEADER_SIZE || length > buffer.byteLength) return undefined;
  const family = new DataView(buffer.buffer, buffer.byteOffset, AF_HEADER_SIZE).getUint32(0, false);
  if (family !== AF_INET && family !== AF_INET6) return undefined;
  return buffer.slice(AF_HEADER_SIZE, length);
}

/**
 * ioctl(2) is variadic: `int ioctl(int fd, unsigned long request, ...)`, and so is fcntl(2)
 * (`int fcntl(int fd, int cmd, ...)`); both take exactly one variadic argument after two fixed
 * ones, so one layout serves both. bun:ffi declares fixed arguments only, and where a fixed third argument goes depends on the ABI:
 *
 * - x86-64 (Linux and macOS) and Linux arm64 pass the first variadic arguments in the same
 *   registers as fixed ones (rdx, x2), so a fixed `ioctl(i32, u64, ptr)` is sound there.
 * - Apple arm64 passes every variadic argument on the stack, in 8-byte slots from [sp]
 *   ("Writing ARM64 code for Apple platforms": variadic arguments), and its ioctl reads the
 *   third one with va_arg from that first slot. A fixed third argument would land in x2,
 *   which ioctl never looks at: it would hand the kernel whatever the stack held (EFAULT, or
 *   silent damage).
 *
 * So on arm64 ioctl is declared with nine fixed arguments: fd and request in x0 and x1, six
 * zero pads filling x2..x7, and the pointer ninth. A ninth integer argument of 8 bytes goes in
 * the first stack slot, [sp], under both the standard AAPCS64 and Apple's variant (Apple packs
 * smaller stack arguments tightly, which is why the pointer and pads are 8-byte types), which is
 * exactly where the variadic callee reads it. The pads are harmless: a variadic callee ignores
 * x2..x7. This is the workaround dotnet/runtime #48796 describes. native/darwin/utun.test.ts
 * calls a nine-argument C function through bun:ffi everywhere (the ninth arrives intact) and,
 * on darwin-arm64 only, a real variadic one (it finds the pointer with va_arg). UNVERIFIED on an
 * M-series Mac until that test has run there.
 */
export const IOCTL_PADS = 6;

/** Whether `arch` needs the nine-argument form for a variadic call: Apple arm64 only (only darwin code asks). */
export function variadicOnStack(arch: string): boolean {
  return arch === "arm64";
}

/** The argument list for the declaration `variadicOnStack(arch)` picks. */
export function variadicArguments<P>(arch: string, fd: number, request: number, argument: P): (number | bigint | P)[] {
  if (!variadicOnStack(arch)) return [fd, request, argument];
  return [fd, request, ...Array.from({ length: IOCTL_PADS }, () => 0n), argument];
}
