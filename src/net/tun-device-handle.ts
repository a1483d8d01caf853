/**
 * What every platform's TunDevice shares once its descriptor is open and configured: the
 * reader Worker (tun-device-reader.ts, poll + read off the event loop), the counters, the
 * backlog for packets read before onPacket, and close() in its safe order (routes, stop the
 * reader, wait for it, only then close the descriptor). The platform supplies the write, the
 * route removal and the close (tun-device-linux.ts, tun-device-darwin.ts).
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { ReaderMessage, ReaderStart } from "./tun-device-reader.ts";
import type { TunDevice, TunStats } from "./tun-device.ts";

/** How long the reader blocks in one poll: the most close() waits for it. */
const POLL_MS = 100;
const READY_TIMEOUT_MS = 5_000;
/** Packets kept for an onPacket callback that is not registered yet. */
const BACKLOG = 256;

export interface TunReader {
  worker: Worker;
  stop: Int32Array;
  /** Resolves once the worker has left its loop (or died). */
  stopped: Promise<void>;
  setListener(listener: (message: ReaderMessage) => void): void;
}

/** The platform's part of a device. */
export interface TunBackend {
  /** Writes one bare IP packet: its byte count, or the negated errno. */
  write(packet: Uint8Array): number;
  /** The platform's EAGAIN: a full queue, counted as a drop rather than an error. */
  readonly EAGAIN: number;
  /** Deletes the device's routes, trying every one; returns the first failure (already a CredproxyError) or undefined. */
  removeRoutes(): Error | undefined;
  /** Closes the descriptor, which removes the device. */
  closeFd(): void;
}

/** The set-up steps, for error messages: creating the device, configuring it, adding a route. */
export type TunStep = "open" | "configure" | "route";

/** Runs one system step, turning its failure into the platform's CredproxyError that says what to do. */
export function runStep<T>(kind: TunStep, subject: string, run: () => T, toError: (kind: TunStep, subject: string, error: unknown) => Error): T {
  try {
    return run();
  } catch (error) {
    throw toError(kind, subject, error);
  }
}

/** Compiled, the worker is another entry point of the bundle, named from src/ (build.ts). */
function readerUrl(): string {
  return import.meta.url.includes("/$bunfs/") ? "./net/tun-device-reader.ts" : new URL("./tun-device-reader.ts", import.meta.url).href;
}

/** Starts the reader Worker on `fd` and waits until it runs. `hint` is for a reader that cannot start. */
export async function startReader(fd: number, mtu: number, hint: string): Promise<TunReader> {
  const shared = new SharedArrayBuffer(4);
  const worker = new Worker(readerUrl());
  let listener: (message: ReaderMessage) => void = () => {};
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));
  const ready = Promise.withResolvers<void>();
  const timer = setTimeout(() => ready.reject(new Error(`the TUN reader did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
  worker.onmessage = (event: MessageEvent<ReaderMessage>) => {
    const message = event.data;
    if (message.type === "ready") ready.resolve();
    // A failure before "ready" (the native module would not load) fails the open at once.
    if (message.type === "failed") ready.reject(new Error(message.message));
    if (message.type === "stopped") markStopped();
    listener(message);
  };
  worker.onerror = (event) => {
    ready.reject(new Error(`the TUN reader failed: ${event.message}`));
    markStopped();
    listener({ type: "failed", message: event.message });
  };
  // Room for the largest packet plus a utun's 4-byte header, and then some.
  worker.postMessage({ fd, stop: shared, bufferSize: Math.max(mtu, 1500) + 64, pollMs: POLL_MS } satisfies ReaderStart);
  try {
    await ready.promise;
  } catch (error) {
    worker.terminate();
    throw new CredproxyError(ErrorCode.Platform, `Cannot read from the TUN device: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      hint: import.meta.url.includes("/$bunfs/")
        ? "this binary was built without its TUN reader: build.ts must list src/net/tun-device-reader.ts as an entry point"
        : hint,
    });
  } finally {
    clearTimeout(timer);
  }
  return { worker, stop: new Int32Array(shared), stopped, setListener: (l) => (listener = l) };
}

/** The TunDevice over an open descriptor, its reader and the platform's calls. */
export function tunDevice(name: string, reader: TunReader, backend: TunBackend): TunDevice {
  const counters: TunStats = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, writeDrops: 0, writeErrors: 0, readDrops: 0 };
  let onPacket: ((packet: Uint8Array) => void) | undefined;
  let onError: ((error: Error) => void) | undefined;
  const backlog: Uint8Array[] = [];
  let closing: Promise<void> | undefined;

  reader.setListener((message) => {
    if (message.type === "failed" && closing === undefined) onError?.(new CredproxyError(ErrorCode.Platform, `The TUN device ${name} stopped: ${message.message}`));
    if (message.type !== "packets") return;
    for (const packet of message.packets) {
      counters.packetsIn++;
      counters.bytesIn += packet.byteLength;
      if (onPacket) onPacket(packet);
      else if (backlog.length < BACKLOG) backlog.push(packet);
      else counters.readDrops++;
    }
  });

  return {
    name,
    write(packet) {
      if (closing !== undefined) return false;
      const written = backend.write(packet);
      if (written >= 0) {
        counters.packetsOut++;
        counters.bytesOut += written;
        return true;
      }
      if (written === -backend.EAGAIN) counters.writeDrops++;
      else counters.writeErrors++;
      return false;
    },
    onPacket(callback) {
      onPacket = callback;
      for (const packet of backlog.splice(0)) callback(packet);
    },
    onError(callback) {
      onError = callback;
    },
    stats: () => ({ ...counters }),
    close() {
      closing ??= (async () => {
        // Routes first: they go with the device anyway, but not while another descriptor holds it.
        const failure = backend.removeRoutes();
        Atomics.store(reader.stop, 0, 1);
        // A safety net only: the reader sees the flag within one poll.
        let timer: Timer | undefined;
        await Promise.race([reader.stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, POLL_MS * 20)))]);
        clearTimeout(timer);
        reader.worker.terminate();
        // Only now: a descriptor number closed under a running poll could be reused by another open.
        backend.closeFd();
        if (failure !== undefined) throw failure;
      })();
      return closing;
    },
  };
}
