/**
 * Worker entry point: reads packets from a TUN descriptor with poll(2) + read(2) through FFI
 * and posts them to the thread that opened it (tun-device-linux.ts, tun-device-darwin.ts), as
 * bare IP packets on both (a utun's address-family header is stripped: tun-packet-io.ts). Reads must not run on
 * the main thread: Bun's own file reads either block the event loop or never wake on a TUN
 * (reference/ssm-tunnel-2.md §4). The loop is synchronous; it checks a shared stop flag after
 * every poll, so it ends within one poll period of being asked.
 */
import { tunPacketReads, type TunPacketReads } from "./tun-packet-io.ts";

declare const self: Worker;

export interface ReaderStart {
  readonly fd: number;
  /** An Int32Array(1) over shared memory: set [0] to 1 to stop. */
  readonly stop: SharedArrayBuffer;
  /** Bytes per read: at least the MTU. */
  readonly bufferSize: number;
  readonly pollMs: number;
}

export type ReaderMessage =
  | { readonly type: "ready" }
  | { readonly type: "packets"; readonly packets: Uint8Array[] }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "stopped" };

/** Packets posted per message at most: one postMessage per packet would cost more than the read. */
const BATCH = 64;

function run(start: ReaderStart, { waitReadable, readPacket, packetOf }: TunPacketReads): void {
  const stop = new Int32Array(start.stop);
  const buffer = new Uint8Array(start.bufferSize);
  post({ type: "ready" });
  try {
    while (Atomics.load(stop, 0) === 0) {
      const state = waitReadable(start.fd, start.pollMs);
      if (state === "closed") throw new Error("the TUN descriptor was closed or hung up");
      if (state === "timeout") continue;
      const packets: Uint8Array<ArrayBuffer>[] = [];
      while (packets.length < BATCH) {
        const length = readPacket(start.fd, buffer);
        if (length === 0) break;
        if (length < 0) throw new Error(`read from the TUN device failed: errno ${-length}`);
        const packet = packetOf(buffer, length);
        if (packet !== undefined) packets.push(packet);
      }
      if (packets.length > 0) self.postMessage({ type: "packets", packets } satisfies ReaderMessage, packets.map((p) => p.buffer));
    }
  } catch (error) {
    if (Atomics.load(stop, 0) === 0) post({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  }
  post({ type: "stopped" });
}

function post(message: ReaderMessage): void {
  self.postMessage(message);
}

self.onmessage = async (event: MessageEvent<ReaderStart>) => {
  let reads: TunPacketReads;
  try {
    reads = await tunPacketReads(process.platform);
  } catch (error) {
    post({ type: "failed", message: `cannot load the TUN reads: ${error instanceof Error ? error.message : String(error)}` });
    post({ type: "stopped" });
    return;
  }
  run(event.data, reads);
};
