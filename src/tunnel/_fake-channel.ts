/** Test support: a data channel that records what is written and delivers what the test sends. */
import type { DataChannel, DataChannelClosed, DataChannelState, DataChannelStats } from "../ssm/data-channel-types.ts";
import { FakeTun } from "./_fake-tun.ts";
import { FakeClock } from "./_fake-tunnel-clock.ts";
import { FrameDecoder, type Frame } from "./framing.ts";
import type { TunOptions } from "../net/tun-device.ts";

export class FakeChannel implements DataChannel {
  readonly written: Uint8Array[] = [];
  refuse = false;
  closedByClient = false;
  private readonly data: ((bytes: Uint8Array) => void)[] = [];
  private readonly stateListeners: ((state: DataChannelState) => void)[] = [];
  private readonly writableListeners: (() => void)[] = [];
  private readonly readyDeferred = Promise.withResolvers<void>();
  private readonly closedDeferred = Promise.withResolvers<DataChannelClosed>();
  readonly ready = this.readyDeferred.promise;
  readonly closed = this.closedDeferred.promise;
  state: DataChannelState = "connecting";
  resends = 0;

  constructor(readonly sessionId: string) {
    this.ready.catch(() => undefined);
  }
  write(bytes: Uint8Array): boolean {
    if (this.refuse) return false;
    this.written.push(bytes);
    return true;
  }
  onData(callback: (bytes: Uint8Array) => void): void {
    this.data.push(callback);
  }
  onState(callback: (state: DataChannelState) => void): void {
    this.stateListeners.push(callback);
  }
  onWritable(callback: () => void): void {
    this.writableListeners.push(callback);
  }
  stats(): DataChannelStats {
    return { state: this.state, sessionId: this.sessionId, bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, resends: this.resends, duplicates: 0, parseErrors: 0, srttMs: 0, rtoMs: 0, reconnects: 0, unackedBytes: 0 };
  }
  close(): Promise<DataChannelClosed> {
    this.closedByClient = true;
    this.end("closed by the client");
    return this.closed;
  }
  // ——— test side ———
  handshake(): void {
    this.state = "up";
    this.readyDeferred.resolve();
  }
  /** The WebSocket drops (resuming) or comes back (up). */
  setState(state: DataChannelState): void {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }
  /** The channel takes writes again (after `refuse`). */
  writable(): void {
    this.refuse = false;
    for (const listener of this.writableListeners) listener();
  }
  deliver(bytes: Uint8Array): void {
    for (const listener of this.data) listener(bytes);
  }
  end(reason: string): void {
    this.state = "down";
    this.readyDeferred.reject(new Error(reason));
    this.closedDeferred.resolve({ reason });
  }
  /** What the client sent, decoded as the agent would read it. */
  frames(): Frame[] {
    const decoder = new FrameDecoder({ from: "client" });
    return this.written.flatMap((bytes) => decoder.push(bytes));
  }
}


/** A clock and the channel and TUN openers of startTunnel(), recording what they opened. */
export function fakeTunnelParts() {
  const clock = new FakeClock();
  const channels: FakeChannel[] = [];
  const tuns: FakeTun[] = [];
  return {
    clock,
    channels,
    tuns,
    openChannel: () => {
      const channel = new FakeChannel(`session-${channels.length + 1}`);
      channels.push(channel);
      return channel;
    },
    openTun: async (options: TunOptions) => {
      const tun = new FakeTun(`cpx${tuns.length}`, options);
      tuns.push(tun);
      return tun;
    },
  };
}
