/**
 * The packet reads of the platform's TUN, for the reader Worker (tun-device-reader.ts): Linux
 * TUN hands out bare IP packets (IFF_NO_PI); a macOS utun puts a 4-byte address family in front
 * of each, which is stripped here so everything above sees the same bare packets. The native
 * module is imported only for the platform asked for, so a Linux process never loads darwin code.
 */
import type { PollResult } from "../../native/packet-fd.ts";

export interface TunPacketReads {
  /** poll(2) for POLLIN; blocks the calling thread. */
  waitReadable(fd: number, timeoutMs: number): PollResult;
  /** One read into `buffer`: its length, 0 when nothing is waiting, or the negated errno. */
  readPacket(fd: number, buffer: Uint8Array): number;
  /** The bare IP packet in the first `length` bytes read, as a copy; undefined to drop it. */
  packetOf(buffer: Uint8Array, length: number): Uint8Array<ArrayBuffer> | undefined;
}

export async function tunPacketReads(platform: NodeJS.Platform): Promise<TunPacketReads> {
  if (platform === "darwin") {
    const [utun, structs] = await Promise.all([import("../../native/darwin/utun.ts"), import("../../native/darwin/utun-structs.ts")]);
    return { waitReadable: utun.waitReadable, readPacket: utun.readPacket, packetOf: structs.withoutAfHeader };
  }
  const tun = await import("../../native/linux/tun.ts");
  return { waitReadable: tun.waitReadable, readPacket: tun.readPacket, packetOf: (buffer, length) => buffer.slice(0, length) };
}
