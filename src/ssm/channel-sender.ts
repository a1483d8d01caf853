/**
 * The client → agent half of the data channel: the OutgoingWindow plus the one resend timer and
 * the caller-facing backpressure. Writes go to `send`, which drops frames while no socket is
 * open; the window is paused then, so nothing is written or resent and new data is queued,
 * until `socketUp()` writes everything unacked on the new socket.
 *
 * - Output before HandshakeComplete is held (the agent would ack and discard it) up to the same bound.
 * - `write` is all or nothing: refused when the framed bytes would push unacked + queued over
 *   `maxInFlightBytes`, or while the WebSocket's own buffer is over it (a secondary guard).
 * - After a refusal, `onWritable` listeners run once half the bound is free again.
 */
import { OutgoingWindow, type OutgoingMessage } from "./outgoing-window.ts";
import { PayloadType } from "./message-types.ts";
import { framedBytes, splitPayloads } from "./split-payloads.ts";

export interface ChannelSenderOptions {
  readonly maxInFlightBytes: number;
  readonly now: () => number;
  /** Writes one frame if a socket is open; otherwise does nothing. */
  readonly send: (frame: Uint8Array) => void;
  /** The socket's bufferedAmount, 0 without a socket. */
  readonly bufferedAmount: () => number;
}

export class ChannelSender {
  private readonly options: ChannelSenderOptions;
  private readonly window: OutgoingWindow;
  private readonly writableListeners: (() => void)[] = [];
  private early: Uint8Array[] = [];
  private earlyBytes = 0;
  private live = false;
  private stopped = false;
  private refused = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Output payload bytes and messages taken. */
  bytesOut = 0;
  messagesOut = 0;

  constructor(options: ChannelSenderOptions) {
    this.options = options;
    this.window = new OutgoingWindow({ maxUnackedBytes: options.maxInFlightBytes });
    this.window.pause("socket");
  }

  /** Takes `bytes` as Output messages of ≤ 1024 bytes, or refuses all of them. */
  write(bytes: Uint8Array): boolean {
    if (this.stopped) return false;
    if (bytes.length === 0) return true;
    const size = framedBytes(bytes);
    const max = this.options.maxInFlightBytes;
    if (!this.live) {
      if (this.earlyBytes + size > max) return this.refuse();
      this.early.push(Uint8Array.from(bytes));
      this.earlyBytes += size;
      return true;
    }
    if (this.window.stats().unackedBytes + size > max || this.options.bufferedAmount() > max) return this.refuse();
    this.pushOutput(bytes);
    return true;
  }

  onWritable(callback: () => void): void {
    this.writableListeners.push(callback);
  }

  /** A control message (HandshakeResponse, the TerminateSession flag): never refused. */
  pushControl(payloadType: number, payload: Uint8Array): void {
    this.push(payloadType, payload);
  }

  /** HandshakeComplete: Output may flow; what was held goes into the window. */
  handshakeComplete(): void {
    this.live = true;
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    for (const bytes of early) this.pushOutput(bytes);
  }

  acknowledged(sequenceNumber: number): void {
    if (!this.window.acknowledge(sequenceNumber, this.options.now())) return;
    this.arm();
    if (this.refused && this.window.stats().unackedBytes <= this.options.maxInFlightBytes / 2) {
      this.refused = false;
      for (const listener of this.writableListeners) listener();
    }
  }

  /** A socket is open again: write every stored message. */
  socketUp(): void {
    this.resume("socket");
  }

  socketDown(): void {
    this.pause("socket");
  }

  pausePublication(): void {
    this.pause("publication");
  }

  startPublication(): void {
    this.resume("publication");
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  stats(): ReturnType<OutgoingWindow["stats"]> & { queuedBytes: number } {
    return { ...this.window.stats(), queuedBytes: this.earlyBytes };
  }

  private pushOutput(bytes: Uint8Array): void {
    for (const payload of splitPayloads(bytes)) {
      this.push(PayloadType.Output, payload);
      this.messagesOut++;
    }
    this.bytesOut += bytes.length;
  }

  /** Over the bound only after `write` checked the whole run, or for control messages. */
  private push(payloadType: number, payload: Uint8Array): void {
    const result = this.window.push(payloadType, payload, this.options.now(), { evenIfFull: true });
    if (!result.accepted) return;
    this.writeAll(result.write);
    if (this.timer === undefined) this.arm();
  }

  private refuse(): false {
    this.refused = true;
    return false;
  }

  private pause(reason: "socket" | "publication"): void {
    this.window.pause(reason);
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private resume(reason: "socket" | "publication"): void {
    this.writeAll(this.window.resume(reason, this.options.now()));
    this.arm();
  }

  private writeAll(messages: readonly OutgoingMessage[]): void {
    for (const { frame } of messages) this.options.send(frame);
  }

  /** The one resend timer, set for the window's next due message; none while paused or stopped. */
  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.window.nextDueAt();
    if (at === undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writeAll(this.window.due(this.options.now()));
      this.arm();
    }, Math.max(0, at - this.options.now()));
  }
}
