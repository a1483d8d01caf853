/**
 * Packet I/O on a descriptor that hands out one IP packet per read and takes one per write:
 * a Linux TUN device (native/linux/tun.ts) or a macOS utun control socket
 * (native/darwin/utun.ts). The loops (EINTR retried, EAGAIN as "nothing waiting" or "queue
 * full") and poll(2) are the same on both; only the C library, the errno numbers and the
 * read/write calls differ, so each platform passes those in.
 *
 * Nothing here throws on the per-packet path: failures come back as a negated errno.
 */
import { ErrnoError } from "./libc.ts";

/** The calls a platform supplies; each is one non-variadic libc function (or a thin bind of one). */
export interface PacketCalls {
  /** read(2), or recv(2) with MSG_DONTWAIT: bytes read, or a negative number with errno set. */
  read(fd: number, buffer: Uint8Array, length: number): number | bigint;
  /** write(2), or send(2) with MSG_DONTWAIT. */
  write(fd: number, buffer: Uint8Array, length: number): number | bigint;
  /** poll(2) on one struct pollfd. */
  poll(fds: Int32Array, count: number, timeoutMs: number): number;
  /** errno of the calling thread, read straight after the failed call. */
  errno(): number;
  /** This platform's EINTR and EAGAIN (4 and 11 on Linux, 4 and 35 on macOS). */
  readonly EINTR: number;
  readonly EAGAIN: number;
}

export type PollResult = "readable" | "timeout" | "closed";

export interface PacketFd {
  /** One packet into `buffer`: its length, 0 when none is waiting (EAGAIN), or the negated errno. */
  readPacket(fd: number, buffer: Uint8Array): number;
  /** One packet out: the byte count, or the negated errno (-EAGAIN when the queue is full). */
  writePacket(fd: number, packet: Uint8Array): number;
  /**
   * Waits up to `timeoutMs` for a packet. "closed" means the descriptor is invalid or hung up:
   * stop reading. Blocks the calling thread, so call it from a Worker.
   */
  waitReadable(fd: number, timeoutMs: number): PollResult;
}

// <poll.h>: the same values on Linux and macOS (XNU bsd/sys/poll.h).
const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;

/** Packet I/O over `calls`. Keeps one struct pollfd per instance (calls never nest on a thread). */
export function packetFd(calls: PacketCalls): PacketFd {
  // struct pollfd { int fd; short events; short revents; }: 8 bytes on both platforms.
  const pollfd = new Int32Array(2);
  const events = new Uint16Array(pollfd.buffer);
  return {
    readPacket(fd, buffer) {
      for (;;) {
        const got = Number(calls.read(fd, buffer, buffer.byteLength));
        if (got >= 0) return got;
        const code = calls.errno();
        if (code === calls.EAGAIN) return 0;
        if (code !== calls.EINTR) return -code;
      }
    },
    writePacket(fd, packet) {
      for (;;) {
        const written = Number(calls.write(fd, packet, packet.byteLength));
        if (written >= 0) return written;
        const code = calls.errno();
        if (code !== calls.EINTR) return -code;
      }
    },
    waitReadable(fd, timeoutMs) {
      pollfd[0] = fd;
      events[2] = POLLIN;
      events[3] = 0;
      const ready = calls.poll(pollfd, 1, timeoutMs);
      if (ready < 0) {
        const code = calls.errno();
        if (code === calls.EINTR) return "timeout";
        throw new ErrnoError("poll", code);
      }
      if (ready === 0) return "timeout";
      const revents = events[3]!;
      if (revents & (POLLNVAL | POLLERR | POLLHUP)) return "closed";
      return revents & POLLIN ? "readable" : "timeout";
    },
  };
}
