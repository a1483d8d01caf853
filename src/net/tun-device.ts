/**
 * A TUN device as the tunnel sees it: an interface with an address pair and routes that
 * delivers whole IP packets to a callback and takes whole IP packets to inject. One interface
 * for every platform, and `openTun` is the one place that picks the implementation: Linux
 * (tun-device-linux.ts: /dev/net/tun and rtnetlink) or macOS (tun-device-darwin.ts: a utun with
 * ifconfig and route, unverified on a Mac). Nothing above src/net knows which. Each backend is
 * imported only when a device is opened, so commands that never open one (serve) load neither.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";

export interface TunOptions {
  /**
   * The interface name to ask for. Linux: a `%d` lets the kernel number it; default `cpx%d`.
   * macOS: only `utunN` asks for a unit; anything else takes the next free utun.
   */
  name?: string;
  /** The interface MTU: the largest packet either way. */
  mtu: number;
  /** This side's IPv4 address on the point-to-point link (a /32), e.g. 100.64.0.1. */
  address: string;
  /** The far side's IPv4 address, e.g. 100.64.0.2; the kernel routes it through the device. */
  peer: string;
  /** CIDRs (IPv4 or IPv6) to route through the device, e.g. 10.99.0.0/24. */
  routes: string[];
  /** This side's IPv6 address (a /128), beside the IPv4 one; only together with `peer6`. */
  address6?: string | undefined;
  /** The far side's IPv6 address, routed through the device. */
  peer6?: string | undefined;
}

/** Counters since the device was opened. Drops are packets lost on purpose, not errors. */
export interface TunStats {
  /** Packets read from the device (sent by this host into the tunnel). */
  packetsIn: number;
  bytesIn: number;
  /** Packets written to the device (delivered to this host from the tunnel). */
  packetsOut: number;
  bytesOut: number;
  /** Writes refused because the device's queue was full (EAGAIN). */
  writeDrops: number;
  /** Writes the kernel rejected otherwise (something that is not an IPv4 or IPv6 packet, say). */
  writeErrors: number;
  /** Packets read before any onPacket callback existed and dropped once the small backlog was full. */
  readDrops: number;
}

export interface TunDevice {
  /** The name the kernel gave the interface, e.g. `cpx0`, `utun7`. */
  readonly name: string;
  /** Injects one IP packet; false when it was dropped (queue full) or refused. Never blocks. */
  write(packet: Uint8Array): boolean;
  /** Calls `callback` for every packet read (each its own Uint8Array, one IP packet). */
  onPacket(callback: (packet: Uint8Array) => void): void;
  /** Called once if the reader stops on its own (the device went away); not called after close(). */
  onError(callback: (error: Error) => void): void;
  stats(): TunStats;
  /** Deletes the routes, stops the reader and closes the device (which removes it). Idempotent. */
  close(): Promise<void>;
}

/** Which backend `openTun` uses on `platform`; undefined where there is none. */
export function tunBackendFor(platform: NodeJS.Platform): "linux" | "darwin" | undefined {
  return platform === "linux" || platform === "darwin" ? platform : undefined;
}

/** Opens and configures a TUN device. Throws CredproxyError(Platform) with a hint on failure. */
export async function openTun(options: TunOptions, platform: NodeJS.Platform = process.platform): Promise<TunDevice> {
  const backend = tunBackendFor(platform);
  if (backend === "linux") return (await import("./tun-device-linux.ts")).openLinuxTun(options);
  if (backend === "darwin") return (await import("./tun-device-darwin.ts")).openDarwinTun(options);
  throw new CredproxyError(ErrorCode.Platform, `A TUN device is not supported on ${platform}`, {
    hint: "run the tunnel on Linux or macOS",
  });
}
