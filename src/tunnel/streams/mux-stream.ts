/**
 * One stream of a StreamMux: its send queue and credit, its receive window, and its ends.
 * Created only by the mux, which owns the scheduling (stream-mux.ts).
 */
import { FramingError } from "../framing-error.ts";
import { MAX_WINDOW_BYTES, type OpenFailReason, type StreamFrame } from "./stream-frames.ts";

/** What a stream needs from its mux. */
export interface MuxStreamHost {
  sendControl(frame: StreamFrame): void;
  /** The stream may have something to send now. */
  markReady(stream: MuxStream): void;
  /** The stream has ended: drop it from the tables. */
  forget(stream: MuxStream): void;
}

export type StreamEnd =
  /** Both directions ended normally (an end each way). */
  | { readonly kind: "done" }
  | { readonly kind: "reset"; readonly by: "peer" | "us" }
  /** OPEN_FAIL, either way. */
  | { readonly kind: "failed"; readonly reason: OpenFailReason | number; readonly text: string }
  | { readonly kind: "session"; readonly why: string };

export type OpenResult = { readonly ok: true } | { readonly ok: false; readonly reason: OpenFailReason | number; readonly text: string };

type State = "opening" | "accepting" | "open" | "closed";

/** Above this many queued bytes write() asks the caller to pause its source. */
export const STREAM_HIGH_WATER = 64 * 1024;

export class MuxStream {
  /** Set by the mux while the stream sits in its turn queue. */
  inReady = false;
  private state: State;
  private readonly window: number;
  private sendCredit: number;
  /** Bytes the peer may still send before our next CREDIT. */
  private recvRemaining: number;
  private unreturned = 0;
  private readonly queue: Uint8Array[] = [];
  private headOffset = 0;
  private queued = 0;
  private localEnded = false;
  private endSent = false;
  private peerEnded = false;
  private wantsDrain = false;
  private readonly openedDeferred = Promise.withResolvers<OpenResult>();
  private handlers = {
    data: (_bytes: Uint8Array) => undefined as void,
    end: () => undefined as void,
    closed: (_end: StreamEnd) => undefined as void,
    drain: () => undefined as void,
  };

  /** Client: settles on OPEN_OK or OPEN_FAIL (or the session's end). Agent: on accept()/fail(). */
  readonly opened: Promise<OpenResult>;

  constructor(
    readonly id: number,
    private readonly host: MuxStreamHost,
    init: { state: "opening" | "accepting"; window: number; sendCredit: number },
  ) {
    this.state = init.state;
    this.window = init.window;
    this.recvRemaining = init.window;
    this.sendCredit = init.sendCredit;
    this.opened = this.openedDeferred.promise;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  /** The credit the peer has granted and we have not used yet. */
  get credit(): number {
    return this.sendCredit;
  }

  onData(callback: (bytes: Uint8Array) => void): void {
    this.handlers.data = callback;
  }
  /** The peer will send no more (its half-close). */
  onEnd(callback: () => void): void {
    this.handlers.end = callback;
  }
  /** Called once, however the stream ends. */
  onClosed(callback: (end: StreamEnd) => void): void {
    this.handlers.closed = callback;
  }
  /** After write() returned false: the queue has drained below half the high-water mark. */
  onDrain(callback: () => void): void {
    this.handlers.drain = callback;
  }

  /** Queues bytes for the peer. False: pause the source until onDrain. */
  write(bytes: Uint8Array): boolean {
    if (this.state === "closed" || this.localEnded) return false;
    if (bytes.length > 0) {
      this.queue.push(bytes);
      this.queued += bytes.length;
      this.host.markReady(this);
    }
    if (this.queued < STREAM_HIGH_WATER) return true;
    this.wantsDrain = true;
    return false;
  }

  /** Half-close: an end goes out after the bytes already queued. */
  end(): void {
    if (this.state === "closed" || this.localEnded) return;
    this.localEnded = true;
    this.host.markReady(this);
  }

  /** Both directions gone at once; queued bytes are discarded. */
  reset(): void {
    if (this.state === "closed") return;
    this.host.sendControl({ type: "stream_close", streamId: this.id, kind: "reset" });
    this.close({ kind: "reset", by: "us" });
  }

  /** The application took `bytes` of what onData gave it: credit goes back once enough adds up. */
  consumed(bytes: number): void {
    if (this.state === "closed" || this.peerEnded) return;
    this.unreturned += bytes;
    if (this.unreturned < Math.max(1, this.window / 4)) return;
    const credit = this.unreturned;
    this.unreturned = 0;
    this.recvRemaining += credit;
    this.host.sendControl({ type: "credit", streamId: this.id, bytes: credit });
  }

  /** Agent: the connection is up; OPEN_OK with our window. */
  accept(): void {
    if (this.state !== "accepting") return;
    this.state = "open";
    this.host.sendControl({ type: "open_ok", streamId: this.id, window: this.window });
    this.openedDeferred.resolve({ ok: true });
    this.host.markReady(this);
  }

  /** Agent: the connection could not be made. */
  fail(reason: OpenFailReason, text: string): void {
    if (this.state !== "accepting") return;
    this.host.sendControl({ type: "open_fail", streamId: this.id, reason, text });
    this.close({ kind: "failed", reason, text });
  }

  // ——— for the mux ———

  sendable(): boolean {
    if (this.state !== "open") return false;
    return this.queued > 0 ? this.sendCredit > 0 : this.localEnded && !this.endSent;
  }

  /** The next frame this stream would send (nothing is taken until commit()). */
  nextFrame(maxData: number): StreamFrame | undefined {
    if (!this.sendable()) return undefined;
    if (this.queued === 0) return { type: "stream_close", streamId: this.id, kind: "end" };
    return { type: "data", streamId: this.id, bytes: this.peek(Math.min(maxData, this.sendCredit, this.queued)) };
  }

  /** The frame from nextFrame() went out. */
  commit(frame: StreamFrame): void {
    if (frame.type === "stream_close") {
      this.endSent = true;
      return this.maybeDone();
    }
    if (frame.type !== "data") return;
    this.take(frame.bytes.length);
    this.sendCredit -= frame.bytes.length;
    if (this.wantsDrain && this.queued < STREAM_HIGH_WATER / 2) {
      this.wantsDrain = false;
      this.handlers.drain();
    }
  }

  receive(frame: Exclude<StreamFrame, { type: "open" }>): void {
    switch (frame.type) {
      case "open_ok":
        this.expectState("opening", "OPEN_OK");
        this.state = "open";
        this.sendCredit = frame.window;
        this.openedDeferred.resolve({ ok: true });
        return this.host.markReady(this);
      case "open_fail":
        this.expectState("opening", "OPEN_FAIL");
        return this.close({ kind: "failed", reason: frame.reason, text: frame.text });
      case "data":
        this.expectState("open", "DATA");
        if (this.peerEnded) throw this.broken("DATA after the peer's end");
        if (frame.bytes.length > this.recvRemaining) throw this.broken(`DATA of ${frame.bytes.length} bytes is over the window (${this.recvRemaining} left)`);
        this.recvRemaining -= frame.bytes.length;
        return this.handlers.data(frame.bytes);
      case "credit":
        this.expectState("open", "CREDIT");
        if (this.sendCredit + frame.bytes > MAX_WINDOW_BYTES) throw this.broken(`a credit of ${frame.bytes} bytes takes the window over ${MAX_WINDOW_BYTES}`);
        this.sendCredit += frame.bytes;
        return this.host.markReady(this);
      case "stream_close":
        if (frame.kind === "reset") return this.close({ kind: "reset", by: "peer" });
        this.expectState("open", "STREAM_CLOSE");
        if (this.peerEnded) throw this.broken("a second end");
        this.peerEnded = true;
        this.handlers.end();
        return this.maybeDone();
    }
  }

  sessionEnded(why: string): void {
    this.close({ kind: "session", why }, false);
  }

  // ——— inside ———

  private maybeDone(): void {
    if (this.endSent && this.peerEnded) this.close({ kind: "done" });
  }

  private close(end: StreamEnd, forget = true): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.queue.length = 0;
    this.queued = 0;
    if (forget) this.host.forget(this);
    this.openedDeferred.resolve(end.kind === "failed" ? { ok: false, reason: end.reason, text: end.text } : { ok: false, reason: 1, text: describeEnd(end) });
    this.handlers.closed(end);
  }

  private expectState(state: State, what: string): void {
    if (this.state !== state) throw new FramingError("unexpected_frame", `${what} for stream ${this.id}, which is ${this.state}`);
  }

  private broken(problem: string): FramingError {
    return new FramingError("bad_body", `stream ${this.id}: ${problem}`);
  }

  /** The first `n` queued bytes, without taking them. */
  private peek(n: number): Uint8Array {
    const head = this.queue[0]!;
    if (head.length - this.headOffset >= n) return head.subarray(this.headOffset, this.headOffset + n);
    const out = new Uint8Array(n);
    let filled = 0;
    for (let i = 0, offset = this.headOffset; filled < n; i++, offset = 0) {
      const part = this.queue[i]!.subarray(offset, offset + n - filled);
      out.set(part, filled);
      filled += part.length;
    }
    return out;
  }

  private take(n: number): void {
    this.queued -= n;
    while (n > 0) {
      const head = this.queue[0]!;
      const left = head.length - this.headOffset;
      if (left > n) {
        this.headOffset += n;
        return;
      }
      n -= left;
      this.queue.shift();
      this.headOffset = 0;
    }
  }
}

export function describeEnd(end: StreamEnd): string {
  switch (end.kind) {
    case "done":
      return "closed";
    case "reset":
      return end.by === "peer" ? "reset by the other end" : "reset";
    case "failed":
      return end.text;
    case "session":
      return `the tunnel session ended: ${end.why}`;
  }
}
