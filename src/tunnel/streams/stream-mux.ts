/**
 * Many TCP streams over one tunnel session, with per-stream credit flow control and a fair
 * sender (issue 13 point 3; ssm-tunnel-2.md §5 on smux v1's head-of-line problem).
 *
 * - Each side grants the other a receive window per stream (in OPEN / OPEN_OK, 256 KiB by
 *   default) and returns credit with CREDIT frames as its application consumes bytes (once a
 *   quarter of the window has been consumed), so a stream whose reader is slow stops its sender
 *   without stopping anyone else. DATA beyond the grant is a protocol error.
 * - The sender keeps one queue per stream and takes one DATA frame of at most 16 KiB from each
 *   stream that has bytes and credit in turn (round robin). A stream that starts sending waits
 *   behind at most one frame of every other busy stream, never behind a bulk stream's backlog.
 *   Control frames (OPEN*, CREDIT, resets) go before any DATA.
 * - The agent may pace DATA (options.pace: its in-flight bound): a stream whose next frame does
 *   not fit keeps its turn, and a later stream's small frame that fits goes past it.
 * - The sink takes a whole frame or nothing (the data channel's in-flight bound, the agent's
 *   backlog bound); when it refuses, the frame stays where it was and pump() resumes on
 *   writable().
 *
 * Frames that break the rules (an id never opened, DATA over the window, a credit overflow, a
 * second end) throw FramingError; the caller ends the session. Frames for a stream that has
 * already ended here (a reset crossing DATA in flight) are ignored.
 *
 * No I/O of its own: the sink and the callbacks are the caller's (unit tests pass fakes).
 */
import { FramingError } from "../framing-error.ts";
import { encodeFrame } from "../frame-codec.ts";
import { MuxStream, type MuxStreamHost, type StreamEnd } from "./mux-stream.ts";
import { MAX_DATA_BYTES, MAX_WINDOW_BYTES, OpenFailReason, type OpenFrame, type StreamAddress, type StreamFrame } from "./stream-frames.ts";

export const DEFAULT_STREAM_WINDOW = 256 * 1024;
export const DEFAULT_MAX_STREAMS = 256;
/** A DATA frame's bytes besides its payload: length (2), type (1), stream id (4). */
const DATA_HEADER_BYTES = 7;

export interface MuxSink {
  /** Takes the whole frame (true) or nothing (false: call writable() once there is room). */
  write(frame: Uint8Array): boolean;
}

export interface StreamTarget {
  readonly address: StreamAddress;
  readonly port: number;
}

export interface StreamMuxOptions {
  readonly sink: MuxSink;
  /** The client opens streams (odd ids); the agent accepts them. */
  readonly role: "client" | "agent";
  /** The receive window granted to the peer on each stream. */
  readonly window?: number;
  /** The largest DATA payload sent. */
  readonly maxData?: number;
  /** Streams open at once; past it the agent answers OPEN_FAIL. */
  readonly maxStreams?: number;
  /**
   * Whether a DATA frame of `bytes` may go now (the agent's in-flight bound, socks mode). A held
   * frame stays in its stream's turn while later streams' frames that fit go by; pump() resumes
   * on writable(). Control frames and ends are never held. Absent: DATA goes whenever the sink takes it.
   */
  readonly pace?: (bytes: number) => boolean;
  /** Agent: a stream the client asks for; call stream.accept() or stream.fail() on it. */
  readonly onOpen?: (stream: MuxStream, target: StreamTarget) => void;
}

export interface StreamMuxStats {
  readonly streams: number;
  readonly opened: number;
  readonly dataFramesSent: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly queuedBytes: number;
}

export class StreamMux {
  private readonly streams = new Map<number, MuxStream>();
  /** Streams with something to send now, in turn order. */
  private readonly ready: MuxStream[] = [];
  private readonly control: Uint8Array[] = [];
  private readonly window: number;
  private readonly maxData: number;
  private readonly maxStreams: number;
  private readonly host: MuxStreamHost;
  /** Client: the next id we open. Agent: the highest id the client opened. */
  private nextId = 1;
  private lastPeerId = 0;
  private pumping = false;
  private ended = false;
  private readonly counts = { opened: 0, dataFramesSent: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(private readonly options: StreamMuxOptions) {
    this.window = options.window ?? DEFAULT_STREAM_WINDOW;
    this.maxData = Math.min(options.maxData ?? MAX_DATA_BYTES, MAX_DATA_BYTES);
    this.maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
    if (this.window < this.maxData || this.window > MAX_WINDOW_BYTES) throw new RangeError(`stream window ${this.window} is outside ${this.maxData}..${MAX_WINDOW_BYTES}`);
    this.host = {
      sendControl: (frame) => this.sendControl(frame),
      markReady: (stream) => this.markReady(stream),
      forget: (stream) => this.forget(stream),
    };
  }

  /** Client: asks the agent for a TCP connection; `opened` settles with OPEN_OK or OPEN_FAIL. */
  open(target: StreamTarget): MuxStream {
    if (this.options.role !== "client") throw new Error("only the client opens streams");
    if (this.ended) throw new FramingError("unexpected_frame", "the tunnel session has ended");
    const id = this.nextId;
    this.nextId += 2;
    const stream = new MuxStream(id, this.host, { state: "opening", window: this.window, sendCredit: 0 });
    this.streams.set(id, stream);
    this.counts.opened++;
    const open: OpenFrame = { type: "open", streamId: id, address: target.address, port: target.port, window: this.window };
    this.sendControl(open);
    return stream;
  }

  /** One stream frame from the peer. Throws FramingError when it breaks the rules. */
  receive(frame: StreamFrame): void {
    if (this.ended) return;
    if (frame.type === "open") return this.peerOpen(frame);
    const stream = this.streams.get(frame.streamId);
    if (stream === undefined) return this.unknown(frame);
    if (frame.type === "data") this.counts.bytesReceived += frame.bytes.length;
    stream.receive(frame);
  }

  /** The sink has room again. */
  writable(): void {
    this.pump();
  }

  /** The session ended: every stream ends with it; nothing more is sent. */
  endAll(why: string): void {
    this.ended = true;
    this.ready.length = 0;
    this.control.length = 0;
    for (const stream of [...this.streams.values()]) stream.sessionEnded(why);
    this.streams.clear();
  }

  stats(): StreamMuxStats {
    let queuedBytes = 0;
    for (const stream of this.streams.values()) queuedBytes += stream.queuedBytes;
    return { streams: this.streams.size, ...this.counts, queuedBytes };
  }

  /** Sends queued frames while the sink takes them: control first, then DATA in turn. */
  pump(): void {
    if (this.pumping || this.ended) return;
    this.pumping = true;
    /** Streams whose DATA the pacer holds, in turn order: they go back to the front. */
    const held: MuxStream[] = [];
    try {
      for (;;) {
        const head = this.control[0];
        if (head !== undefined) {
          if (!this.options.sink.write(head)) return;
          this.control.shift();
          continue;
        }
        const stream = this.ready.shift();
        if (stream === undefined) return;
        const next = stream.nextFrame(this.maxData);
        if (next === undefined) {
          stream.inReady = false;
          continue;
        }
        if (next.type === "data" && this.options.pace?.(next.bytes.length + DATA_HEADER_BYTES) === false) {
          held.push(stream);
          continue;
        }
        if (!this.options.sink.write(encodeFrame(next))) {
          this.ready.unshift(stream);
          return;
        }
        stream.commit(next);
        if (next.type === "data") {
          this.counts.dataFramesSent++;
          this.counts.bytesSent += next.bytes.length;
        }
        if (stream.sendable()) this.ready.push(stream);
        else stream.inReady = false;
      }
    } finally {
      this.ready.unshift(...held);
      this.pumping = false;
    }
  }

  private peerOpen(frame: OpenFrame): void {
    if (this.options.role !== "agent") throw new FramingError("unexpected_frame", "OPEN from the agent: only the client opens streams");
    const id = frame.streamId;
    if (id % 2 !== 1 || id <= this.lastPeerId) {
      throw new FramingError("bad_body", `OPEN of stream ${id}: client stream ids are odd and increasing (last was ${this.lastPeerId})`);
    }
    this.lastPeerId = id;
    if (this.streams.size >= this.maxStreams) {
      this.sendControl({ type: "open_fail", streamId: id, reason: OpenFailReason.TooManyStreams, text: `the agent allows ${this.maxStreams} streams per session` });
      return;
    }
    const stream = new MuxStream(id, this.host, { state: "accepting", window: this.window, sendCredit: frame.window });
    this.streams.set(id, stream);
    this.counts.opened++;
    if (this.options.onOpen === undefined) return stream.fail(OpenFailReason.Failed, "this side does not accept streams");
    this.options.onOpen(stream, { address: frame.address, port: frame.port });
  }

  /** A frame for a stream not open here: late frames of one that ended are fine, others are not. */
  private unknown(frame: Exclude<StreamFrame, OpenFrame>): void {
    const id = frame.streamId;
    const used = this.options.role === "client" ? id % 2 === 1 && id < this.nextId : id % 2 === 1 && id <= this.lastPeerId;
    if (used) return;
    const name = frame.type.toUpperCase();
    throw new FramingError("bad_body", `${name} for stream ${id}, which was never opened`);
  }

  private sendControl(frame: StreamFrame): void {
    if (this.ended) return;
    this.control.push(encodeFrame(frame));
    this.pump();
  }

  private markReady(stream: MuxStream): void {
    if (!stream.inReady && stream.sendable()) {
      stream.inReady = true;
      this.ready.push(stream);
    }
    this.pump();
  }

  private forget(stream: MuxStream): void {
    this.streams.delete(stream.id);
    const at = this.ready.indexOf(stream);
    if (at >= 0) this.ready.splice(at, 1);
    stream.inReady = false;
  }
}

export type { MuxStream, StreamEnd };
