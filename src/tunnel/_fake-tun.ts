/** A TunDevice for unit tests: records what is written, and `read()` plays a packet the host sent. */
import type { TunDevice, TunOptions, TunStats } from "../net/tun-device.ts";

export class FakeTun implements TunDevice {
  readonly written: Uint8Array[] = [];
  closed = false;
  private packet: (packet: Uint8Array) => void = () => undefined;
  constructor(readonly name: string, readonly options: TunOptions) {}
  write(packet: Uint8Array): boolean {
    this.written.push(packet);
    return true;
  }
  onPacket(callback: (packet: Uint8Array) => void): void {
    this.packet = callback;
  }
  onError(): void {}
  stats(): TunStats {
    return { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, writeDrops: 0, writeErrors: 0, readDrops: 0 };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  /** A packet the host sends into the tunnel. */
  read(packet: Uint8Array): void {
    this.packet(packet);
  }
}


/** A TUN opener for tests that hands out FakeTuns named `prefix`0, 1, … and keeps them in `tuns`. */
export function fakeTunOpener(tuns: FakeTun[], prefix: string): (options: TunOptions) => Promise<FakeTun> {
  return async (options) => {
    const tun = new FakeTun(`${prefix}${tuns.length}`, options);
    tuns.push(tun);
    return tun;
  };
}
