/**
 * Linux TUN devices through /dev/net/tun: open one (TUNSETIFF with IFF_TUN | IFF_NO_PI, so
 * each read and write is one bare IP packet), then read, write and poll its descriptor.
 * Interface settings (MTU, addresses, routes, up) are rtnetlink's job: netlink.ts.
 *
 * The device is not persistent: it disappears, with its addresses and routes, when the last
 * descriptor on it is closed (including by the kernel when the process dies). The descriptor
 * is non-blocking and close-on-exec, so a write never stalls the event loop and child
 * processes do not keep the device alive.
 *
 * These calls work from any thread: a Worker imports this module and libc.ts with it, so it
 * gets its own dlopen handle (and its own errno address, which is per thread anyway). References: tun(4) (the
 * kernel's Documentation/networking/tuntap.rst), include/uapi/linux/if_tun.h, poll(2).
 */
import { ErrnoError, cString, errno, libc } from "../libc.ts";
import { packetFd, type PollResult } from "../packet-fd.ts";

export type { PollResult } from "../packet-fd.ts";

// asm-generic values, the same on x86-64 and arm64.
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
/** _IOW('T', 202, int): the int is the historical size; the kernel reads a struct ifreq. */
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const EINTR = 4;
const EAGAIN = 11;

export const TUN_PATH = "/dev/net/tun";

/** An open TUN device: its descriptor and the name the kernel gave it. */
export interface TunHandle {
  readonly fd: number;
  readonly name: string;
}

/**
 * Opens /dev/net/tun and attaches a new TUN device named `requestedName` (a `%d` in it lets
 * the kernel pick the number: `cpx%d` → `cpx0`). Throws ErrnoError with syscall "open" or
 * "ioctl(TUNSETIFF)": ENOENT (no device node), EACCES/EPERM (no CAP_NET_ADMIN), EBUSY (name
 * taken), EINVAL (bad name).
 */
export function openTun(requestedName: string): TunHandle {
  const nameBytes = new TextEncoder().encode(requestedName);
  if (nameBytes.byteLength === 0 || nameBytes.byteLength >= IFNAMSIZ || nameBytes.includes(0) || /[\s/:]/.test(requestedName)) {
    throw new RangeError(`interface name "${requestedName}" must be 1 to ${IFNAMSIZ - 1} bytes with no spaces, "/" or ":"`);
  }
  const c = libc();
  const fd = c.open(cString(TUN_PATH), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw new ErrnoError(`open(${TUN_PATH})`, errno());
  const ifreq = new Uint8Array(IFREQ_SIZE);
  ifreq.set(nameBytes, 0);
  new DataView(ifreq.buffer).setUint16(IFNAMSIZ, IFF_TUN | IFF_NO_PI, true); // ifr_flags, host order (little-endian targets)
  if (c.ioctl(fd, TUNSETIFF, ifreq) < 0) {
    const code = errno();
    c.close(fd);
    throw new ErrnoError("ioctl(TUNSETIFF)", code);
  }
  const end = ifreq.indexOf(0);
  return { fd, name: new TextDecoder().decode(ifreq.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end)) };
}

/** Closes the descriptor; for the last one on the device, the kernel removes the device. */
export function closeTun(fd: number): void {
  libc().close(fd);
}

const io = packetFd({
  read: (fd, buffer, length) => libc().read(fd, buffer, length),
  write: (fd, buffer, length) => libc().write(fd, buffer, length),
  poll: (fds, count, timeoutMs) => libc().poll(fds, count, timeoutMs),
  errno,
  EINTR,
  EAGAIN,
});

/**
 * Writes one IP packet. Returns the byte count, or the negated errno on failure (-EAGAIN when
 * the device's queue is full, -EINVAL for something that is not an IP packet): no exception on
 * the per-packet path.
 */
export const writePacket: (fd: number, packet: Uint8Array) => number = io.writePacket;

/**
 * Reads one packet into `buffer`. Returns its length, 0 when none is waiting (EAGAIN), or the
 * negated errno on failure. A packet longer than the buffer is cut short by the kernel.
 */
export const readPacket: (fd: number, buffer: Uint8Array) => number = io.readPacket;

/**
 * Waits up to `timeoutMs` for a packet (poll(2) with POLLIN). "closed" means the descriptor
 * is invalid or hung up: stop reading. Blocks the calling thread, so call it from a Worker.
 */
export const waitReadable: (fd: number, timeoutMs: number) => PollResult = io.waitReadable;
