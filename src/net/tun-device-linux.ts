/**
 * The Linux TunDevice: /dev/net/tun (native/linux/tun.ts), configured over rtnetlink
 * (native/linux/netlink.ts: MTU, a /32 address with its peer, up, one device route per CIDR),
 * read by a Worker doing poll + read (tun-device-reader.ts), written from the calling thread.
 *
 * The device is not persistent, so closing its descriptor removes it and every route through
 * it; a process that dies leaves nothing behind. close() still deletes its routes first, so
 * they are gone even while something else holds the descriptor.
 */
import { ErrnoError, NativeUnavailableError, interfaceIndex } from "../../native/libc.ts";
import { addAddress, addRoute, deleteRoute, setLink, type RouteRequest } from "../../native/linux/netlink.ts";
import { TUN_PATH, closeTun, openTun, writePacket } from "../../native/linux/tun.ts";
import { parseCidr } from "./cidr.ts";
import { parseIp } from "./ip-address.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { ReaderMessage, ReaderStart } from "./tun-device-reader.ts";
import type { TunDevice, TunOptions, TunStats } from "./tun-device.ts";

const DEFAULT_NAME = "cpx%d";
/** How long the reader blocks in one poll: the most close() waits for it. */
const POLL_MS = 100;
const READY_TIMEOUT_MS = 5_000;
/** Packets kept for an onPacket callback that is not registered yet. */
const BACKLOG = 256;
const EAGAIN = 11;

const PRIVILEGE_HINT =
  "run as root (sudo), or grant CAP_NET_ADMIN: `setcap cap_net_admin+ep credproxy`, or in a container `--cap-add NET_ADMIN --device /dev/net/tun`";

/** Opens a TUN device and configures it; on any failure, whatever was set up is taken down again. */
export async function openLinuxTun(options: TunOptions): Promise<TunDevice> {
  const plan = planOf(options);
  const handle = step("open", () => openTun(options.name ?? DEFAULT_NAME), options.name ?? DEFAULT_NAME);
  const routes: RouteRequest[] = [];
  try {
    const ifindex = step("configure", () => interfaceIndex(handle.name), handle.name);
    step("configure", () => setLink({ ifindex, mtu: options.mtu }), handle.name);
    step("configure", () => addAddress({ ifindex, family: 4, address: plan.address, peer: plan.peer, prefixLength: 32 }), handle.name);
    step("configure", () => setLink({ ifindex, up: true }), handle.name);
    for (const cidr of plan.routes) {
      const route: RouteRequest = { ifindex, family: cidr.family, destination: cidr.bytes, prefixLength: cidr.prefix };
      step("route", () => addRoute(route), cidr.text);
      routes.push(route);
    }
    const reader = await startReader(handle.fd, options.mtu);
    return device(handle.name, handle.fd, routes, reader);
  } catch (error) {
    for (const route of routes) forgetRoute(route);
    closeTun(handle.fd);
    throw error;
  }
}

interface Plan {
  address: Uint8Array;
  peer: Uint8Array;
  routes: { family: 4 | 6; bytes: Uint8Array; prefix: number; text: string }[];
}

/** Checks the options before anything touches the system. */
function planOf(options: TunOptions): Plan {
  const invalid = (message: string) => new CredproxyError(ErrorCode.ConfigInvalid, message);
  const address = parseIp(options.address);
  const peer = parseIp(options.peer);
  if (address?.family !== 4) throw invalid(`tunnel address "${options.address}" is not an IPv4 address`);
  if (peer?.family !== 4) throw invalid(`tunnel peer "${options.peer}" is not an IPv4 address`);
  if (!Number.isInteger(options.mtu) || options.mtu < 576 || options.mtu > 65535) {
    throw invalid(`tunnel MTU ${options.mtu} must be a whole number from 576 to 65535`);
  }
  const routes = options.routes.map((text) => {
    const cidr = parseCidr(text);
    if ("problem" in cidr) throw invalid(`tunnel route: ${cidr.problem}`);
    return cidr;
  });
  return { address: address.bytes, peer: peer.bytes, routes };
}

type Step = "open" | "configure" | "route";

/** Runs one system step, turning its failure into a CredproxyError that says what to do. */
function step<T>(kind: Step, run: () => T, subject: string): T {
  try {
    return run();
  } catch (error) {
    throw tunError(kind, subject, error);
  }
}

/** The CredproxyError for a failed step: the errno decides the message and the hint. Exported for tests. */
export function tunError(kind: Step, subject: string, error: unknown): CredproxyError {
  const code = error instanceof ErrnoError ? error.code : undefined;
  const details = { step: kind, subject, errno: code };
  const what = { open: `Cannot create the TUN device ${subject}`, configure: `Cannot configure the TUN device ${subject}`, route: `Cannot route ${subject} through the TUN device` }[kind];
  const fail = (why: string, hint: string) => new CredproxyError(ErrorCode.Platform, `${what}: ${why}`, { cause: error, details, hint });
  if (error instanceof NativeUnavailableError) return fail(error.message, "the tunnel needs Linux with glibc");
  if (error instanceof RangeError) return new CredproxyError(ErrorCode.ConfigInvalid, `${what}: ${error.message}`, { cause: error, details });
  if (code === "EPERM" || code === "EACCES") return fail(`needs root or CAP_NET_ADMIN (the kernel answered ${code})`, PRIVILEGE_HINT);
  if (kind === "open" && code === "ENOENT") {
    return fail(`no ${TUN_PATH}: load the tun module`, "`modprobe tun`; in a container, pass `--device /dev/net/tun`");
  }
  if (kind === "open" && (code === "ENODEV" || code === "ENXIO")) return fail(`the kernel has no TUN driver (${code})`, "`modprobe tun`, or use a kernel built with CONFIG_TUN");
  if (kind === "open" && code === "EBUSY") return fail("an interface with that name exists already", "pick another name, or leave the name out (cpx%d)");
  if (kind === "route" && code === "EEXIST") return fail("a route for it exists already", "remove the existing route (`ip route show` lists it), or leave that CIDR out");
  return fail(error instanceof Error ? error.message : String(error), "see the error above; `credproxy tunnel down --force` cleans up after a crash");
}

/** Deletes a route, ignoring "not there any more" (the device may be gone already). */
function forgetRoute(route: RouteRequest): void {
  try {
    deleteRoute(route);
  } catch (error) {
    if (error instanceof ErrnoError && (error.code === "ESRCH" || error.code === "ENODEV" || error.code === "ENOENT")) return;
    throw error;
  }
}

interface Reader {
  worker: Worker;
  stop: Int32Array;
  /** Resolves once the worker has left its loop (or died). */
  stopped: Promise<void>;
  setListener(listener: (message: ReaderMessage) => void): void;
}

/** Compiled, the worker is another entry point of the bundle, named from src/ (build.ts). */
function readerUrl(): string {
  return import.meta.url.includes("/$bunfs/") ? "./net/tun-device-reader.ts" : new URL("./tun-device-reader.ts", import.meta.url).href;
}

/** Starts the reader Worker on `fd` and waits until it runs. */
async function startReader(fd: number, mtu: number): Promise<Reader> {
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
    if (message.type === "stopped") markStopped();
    listener(message);
  };
  worker.onerror = (event) => {
    ready.reject(new Error(`the TUN reader failed: ${event.message}`));
    markStopped();
    listener({ type: "failed", message: event.message });
  };
  worker.postMessage({ fd, stop: shared, bufferSize: Math.max(mtu, 1500) + 64, pollMs: POLL_MS } satisfies ReaderStart);
  try {
    await ready.promise;
  } catch (error) {
    worker.terminate();
    throw new CredproxyError(ErrorCode.Platform, `Cannot read from the TUN device: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      hint: import.meta.url.includes("/$bunfs/")
        ? "this binary was built without its TUN reader: build.ts must list src/net/tun-device-reader.ts as an entry point"
        : "Workers and bun:ffi must be available (Bun 1.4 on Linux with glibc)",
    });
  } finally {
    clearTimeout(timer);
  }
  return { worker, stop: new Int32Array(shared), stopped, setListener: (l) => (listener = l) };
}

function device(name: string, fd: number, routes: RouteRequest[], reader: Reader): TunDevice {
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
      const written = writePacket(fd, packet);
      if (written >= 0) {
        counters.packetsOut++;
        counters.bytesOut += written;
        return true;
      }
      if (written === -EAGAIN) counters.writeDrops++;
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
        let failure: unknown;
        for (const route of routes) {
          try {
            forgetRoute(route);
          } catch (error) {
            failure ??= error;
          }
        }
        Atomics.store(reader.stop, 0, 1);
        // A safety net only: the reader sees the flag within one poll.
        let timer: Timer | undefined;
        await Promise.race([reader.stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, POLL_MS * 20)))]);
        clearTimeout(timer);
        reader.worker.terminate();
        // Only now: a descriptor number closed under a running poll could be reused by another open.
        closeTun(fd);
        if (failure !== undefined) throw tunError("route", name, failure);
      })();
      return closing;
    },
  };
}
