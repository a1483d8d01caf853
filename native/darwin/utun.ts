/**
 * macOS utun devices through bun:ffi on libSystem: what native/linux/tun.ts is on Linux. A utun
 * is a kernel-control socket: socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL), CTLIOCGINFO to
 * turn "com.apple.net.utun_control" into a control id, connect() with a sockaddr_ctl (unit 0:
 * the next free utunN), then getsockopt(UTUN_OPT_IFNAME) for the name the kernel gave it. Each
 * read and write on the socket is one IP packet behind a 4-byte big-endian address family
 * (utun-structs.ts adds and strips it). Addresses and routes are ifconfig's and route's job:
 * utun-commands.ts.
 *
 * The interface lives exactly as long as the socket: closing it (or the kernel closing it when
 * the process dies) destroys utunN and every route through it. The socket is close-on-exec, so
 * the ifconfig and route children never keep it alive, and non-blocking, so a write from the
 * event loop never stalls; reads run in the reader Worker (src/net/tun-device-reader.ts), which
 * imports this module and gets its own dlopen handle (and errno, which is per thread anyway).
 *
 * Needs root: the utun control is registered CTL_FLAG_PRIVILEGED, so connect() answers EPERM
 * otherwise. UNVERIFIED: written from the XNU headers (utun-structs.ts cites each value) and
 * reference/ssm-tunnel.md §5, never run on a Mac; native/darwin/utun.test.ts runs it there.
 */
import { FFIType, dlopen, read, type Pointer } from "bun:ffi";
import { ErrnoError, NativeUnavailableError } from "../libc.ts";
import { packetFd, type PollResult } from "../packet-fd.ts";
import {
  CTLIOCGINFO, EAGAIN, EINTR, IFNAMSIZ, IOCTL_PADS, PF_SYSTEM, SOCKADDR_CTL_SIZE, SOCK_DGRAM, SYSPROTO_CONTROL, UTUN_CONTROL_NAME,
  UTUN_OPT_IFNAME, ctlIdOf, ctlInfo, interfaceNameOf, sockaddrCtl, utunUnit, variadicArguments, variadicOnStack, withAfHeader,
} from "./utun-structs.ts";

export type { PollResult } from "../packet-fd.ts";

export const LIBSYSTEM_PATH = "/usr/lib/libSystem.B.dylib";

// bsd/sys/fcntl.h
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const FD_CLOEXEC = 1;
const O_NONBLOCK = 0x0004;
const EINVAL = 22;

/**
 * The libSystem declarations for `arch`. ioctl and fcntl are variadic, so on Apple arm64 their
 * one variadic argument is declared ninth, after six u64 pads, to land in the first stack slot
 * where va_arg looks (utun-structs.ts explains the ABI); elsewhere it is a plain third argument.
 * The others are not variadic and are declared as C declares them (poll's nfds_t is an
 * unsigned int on macOS). Exported for the test that pins the layout.
 */
export function libSystemSymbols(arch: string) {
  const pads: FFIType[] = variadicOnStack(arch) ? Array.from({ length: IOCTL_PADS }, () => FFIType.u64) : [];
  return {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    ioctl: { args: [FFIType.i32, FFIType.u64, ...pads, FFIType.ptr], returns: FFIType.i32 },
    // The variadic argument is an int for F_SETFD/F_SETFL; an 8-byte slot holding it reads the same.
    fcntl: { args: [FFIType.i32, FFIType.i32, ...pads, FFIType.i64], returns: FFIType.i32 },
    read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
    write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64_fast },
    poll: { args: [FFIType.ptr, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __error: { args: [], returns: FFIType.ptr },
  } as const;
}

/** The calls as this module makes them; ioctl and fcntl take variadicArguments()'s list. */
interface LibSystem {
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, address: Uint8Array, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, length: Uint32Array): number;
  ioctl(...args: unknown[]): number;
  fcntl(...args: unknown[]): number;
  read(fd: number, buffer: Uint8Array, length: number): number | bigint;
  write(fd: number, buffer: Uint8Array, length: number): number | bigint;
  poll(fds: Int32Array, count: number, timeoutMs: number): number;
  close(fd: number): number;
  __error(): Pointer | null;
}

let opened: LibSystem | undefined;
let errnoAddress: Pointer | undefined;

function libSystem(): LibSystem {
  if (opened) return opened;
  if (process.platform !== "darwin") throw new NativeUnavailableError(`native/darwin is macOS-only: current platform is "${process.platform}"`);
  try {
    opened = dlopen(LIBSYSTEM_PATH, libSystemSymbols(process.arch)).symbols as unknown as LibSystem;
  } catch (error) {
    throw new NativeUnavailableError(`Cannot open libSystem with bun:ffi: ${String(error)}`, { cause: error });
  }
  return opened;
}

/** This thread's errno through `__error()`; read it straight after the failed call. */
function errno(): number {
  if (errnoAddress === undefined) {
    const address = libSystem().__error();
    if (address === null) return 0;
    errnoAddress = (typeof address === "bigint" ? Number(address) : address) as Pointer;
  }
  return read.i32(errnoAddress, 0);
}

/** An open utun: the control socket's descriptor and the interface name, e.g. "utun7". */
export interface UtunHandle {
  readonly fd: number;
  readonly name: string;
}

/**
 * Creates a utun. `requestedName` "utunN" asks for that unit; anything else (or nothing) takes
 * the next free one, which avoids racing other VPNs for a number. Throws ErrnoError with the
 * failing call as its syscall: "socket(PF_SYSTEM)", "ioctl(CTLIOCGINFO)" (ENOENT: no utun
 * control), "connect(utun)" (EPERM: not root; EBUSY: that unit is taken), "getsockopt(UTUN_OPT_IFNAME)",
 * "fcntl".
 */
export function openUtun(requestedName?: string): UtunHandle {
  const lib = libSystem();
  const fd = lib.socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
  if (fd < 0) throw new ErrnoError("socket(PF_SYSTEM)", errno());
  try {
    const info = ctlInfo(UTUN_CONTROL_NAME);
    if (lib.ioctl(...variadicArguments(process.arch, fd, CTLIOCGINFO, info)) < 0) throw new ErrnoError("ioctl(CTLIOCGINFO)", errno());
    if (lib.connect(fd, sockaddrCtl(ctlIdOf(info), utunUnit(requestedName)), SOCKADDR_CTL_SIZE) < 0) throw new ErrnoError("connect(utun)", errno());
    const name = new Uint8Array(IFNAMSIZ);
    const length = new Uint32Array([IFNAMSIZ]);
    if (lib.getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, name, length) < 0) throw new ErrnoError("getsockopt(UTUN_OPT_IFNAME)", errno());
    setFlags(lib, fd);
    return { fd, name: interfaceNameOf(name, length[0]!) };
  } catch (error) {
    lib.close(fd);
    throw error;
  }
}

/** Close-on-exec and O_NONBLOCK, through fcntl with its variadic argument where the ABI wants it. */
function setFlags(lib: LibSystem, fd: number): void {
  if (lib.fcntl(...variadicArguments(process.arch, fd, F_SETFD, BigInt(FD_CLOEXEC))) < 0) throw new ErrnoError("fcntl(F_SETFD)", errno());
  const flags = lib.fcntl(...variadicArguments(process.arch, fd, F_GETFL, 0n));
  if (flags < 0) throw new ErrnoError("fcntl(F_GETFL)", errno());
  if (lib.fcntl(...variadicArguments(process.arch, fd, F_SETFL, BigInt(flags | O_NONBLOCK))) < 0) throw new ErrnoError("fcntl(F_SETFL)", errno());
}

/** Closes the socket, which destroys the utun and its routes. */
export function closeUtun(fd: number): void {
  libSystem().close(fd);
}

const io = packetFd({
  read: (fd, buffer, length) => libSystem().read(fd, buffer, length),
  write: (fd, buffer, length) => libSystem().write(fd, buffer, length),
  poll: (fds, count, timeoutMs) => libSystem().poll(fds, count, timeoutMs),
  errno,
  EINTR,
  EAGAIN,
});

/**
 * Writes one bare IP packet, with the address-family header added. Returns the packet's byte
 * count (header not counted), or the negated errno: -EAGAIN when the queue is full, -EINVAL for
 * something that is not IPv4 or IPv6 (refused before the kernel sees it).
 */
export function writePacket(fd: number, packet: Uint8Array): number {
  const framed = withAfHeader(packet);
  if (framed === undefined) return -EINVAL;
  const written = io.writePacket(fd, framed);
  return written < 0 ? written : Math.max(0, written - (framed.byteLength - packet.byteLength));
}

/**
 * Reads one packet, header included, into `buffer` (size it MTU + 4): its length, 0 when none is
 * waiting, or the negated errno. withoutAfHeader() turns it into the bare packet.
 */
export const readPacket: (fd: number, buffer: Uint8Array) => number = io.readPacket;

/** poll(2) for POLLIN, as on Linux. Blocks the calling thread, so call it from a Worker. */
export const waitReadable: (fd: number, timeoutMs: number) => PollResult = io.waitReadable;
