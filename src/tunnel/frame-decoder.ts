import { decodeBody } from "./frame-codec.ts";
import { FramingError } from "./framing-error.ts";
import { FRAME_HEADER_BYTES, FrameType, MAX_CONTROL_BODY, MAX_FRAME_BODY, type Frame } from "./frames.ts";
import { formatVersion, PROTOCOL_VERSION, type ProtocolVersion, type TunnelRole } from "./protocol-version.ts";
import { isStreamFrameType, MAX_STREAM_BODY, STREAM_FRAME_NAMES } from "./streams/stream-frames.ts";

export interface FrameDecoderOptions {
  /** Who sends the frames this decoder reads: "agent" on the client, "client" on the agent. */
  readonly from: TunnelRole;
  /**
   * The largest PACKET body accepted, a hard protocol limit (default 65535). Packets above the
   * negotiated MTU but within this limit are the caller's to drop and count.
   */
  readonly maxPacket?: number;
  /** Our protocol version (tests pretend to be other versions). */
  readonly ours?: ProtocolVersion;
}

/**
 * Turns the SSM byte stream, split anywhere, back into frames.
 *
 * - The first frame must be the peer's HELLO (HELLO_ACK from a client), or a CLOSE refusing us;
 *   anything else is spotted from the first three bytes.
 * - A frame header announcing more than the limit for its type is refused at once, so at most
 *   one partial frame (≤ 3 + 65535 bytes) is ever buffered.
 * - Unknown frame types are skipped (and counted) only if the peer announced a newer minor
 *   version than ours; otherwise they are garbage.
 * - Bytes after a CLOSE are discarded.
 *
 * Errors are always FramingError; after one, the decoder stays failed and rethrows it (frames
 * earlier in the same chunk are dropped with it: the connection is ending anyway).
 */
export class FrameDecoder {
  /** The partial frame being collected; never more than 3 + 65535 bytes. */
  private buffer = new Uint8Array(2048);
  private buffered = 0;
  private failure: FramingError | undefined;
  private peer: ProtocolVersion | undefined;
  private state: "awaiting_hello" | "open" | "closed" = "awaiting_hello";
  private readonly ours: ProtocolVersion;
  private readonly maxPacket: number;
  private skippedFrames = 0;

  constructor(private readonly options: FrameDecoderOptions) {
    this.ours = options.ours ?? PROTOCOL_VERSION;
    this.maxPacket = Math.min(options.maxPacket ?? MAX_FRAME_BODY, MAX_FRAME_BODY);
  }

  /** The peer's version from its HELLO / HELLO_ACK, once read. */
  get peerVersion(): ProtocolVersion | undefined {
    return this.peer;
  }

  /** True once the peer's CLOSE has been read. */
  get closed(): boolean {
    return this.state === "closed";
  }

  /** Frames of newer-minor types skipped so far. */
  get skipped(): number {
    return this.skippedFrames;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Feeds the next chunk of the stream; returns the frames it completes, in order. */
  push(chunk: Uint8Array): Frame[] {
    if (this.failure) throw this.failure;
    try {
      return this.drain(chunk);
    } catch (error) {
      this.buffered = 0;
      this.failure = error instanceof FramingError ? error : new FramingError("bad_body", `undecodable frame: ${String(error)}`);
      throw this.failure;
    }
  }

  private drain(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let at = 0;
    while (at < chunk.length && !this.closed) {
      const whole = this.buffered === 0 ? this.frameAt(chunk, at, frames) : 0;
      at += whole > 0 ? whole : this.fill(chunk, at, frames);
    }
    return frames;
  }

  /** Fast path: decodes a frame lying wholly in `data` at `at`; returns its size, or 0 if incomplete. */
  private frameAt(data: Uint8Array, at: number, frames: Frame[]): number {
    if (data.length - at < FRAME_HEADER_BYTES) return 0;
    const length = (data[at]! << 8) | data[at + 1]!;
    this.checkHeader(data[at + 2]!, length);
    const end = at + FRAME_HEADER_BYTES + length;
    if (end > data.length) return 0;
    this.accept(data[at + 2]!, data.subarray(at + FRAME_HEADER_BYTES, end), frames);
    return end - at;
  }

  /**
   * Slow path for a frame split across chunks: copies only what the frame still needs into our
   * own buffer (so feeding byte by byte stays linear) and decodes it once complete. Returns the
   * bytes of `chunk` consumed.
   */
  private fill(chunk: Uint8Array, at: number, frames: Frame[]): number {
    const start = at;
    if (this.buffered < FRAME_HEADER_BYTES) {
      at += this.copyIn(chunk, at, FRAME_HEADER_BYTES);
      if (this.buffered < FRAME_HEADER_BYTES) return at - start;
      this.checkHeader(this.buffer[2]!, this.bodyLength());
    }
    const total = FRAME_HEADER_BYTES + this.bodyLength();
    at += this.copyIn(chunk, at, total);
    if (this.buffered < total) return at - start;
    this.buffered = 0;
    this.accept(this.buffer[2]!, this.buffer.subarray(FRAME_HEADER_BYTES, total), frames);
    return at - start;
  }

  /** Appends up to `target - buffered` bytes of `chunk`; returns how many. */
  private copyIn(chunk: Uint8Array, at: number, target: number): number {
    if (this.buffer.length < target) {
      const grown = new Uint8Array(Math.min(Math.max(target, this.buffer.length * 2), FRAME_HEADER_BYTES + MAX_FRAME_BODY));
      grown.set(this.buffer.subarray(0, this.buffered));
      this.buffer = grown;
    }
    const n = Math.min(target - this.buffered, chunk.length - at);
    this.buffer.set(chunk.subarray(at, at + n), this.buffered);
    this.buffered += n;
    return n;
  }

  private bodyLength(): number {
    return (this.buffer[0]! << 8) | this.buffer[1]!;
  }

  /** Everything that can be judged from the three header bytes alone. */
  private checkHeader(typeCode: number, length: number): void {
    const first = this.options.from === "agent" ? FrameType.Hello : FrameType.HelloAck;
    const isHandshake = typeCode === FrameType.Hello || typeCode === FrameType.HelloAck;
    if (this.state === "awaiting_hello" && typeCode !== first && typeCode !== FrameType.Close) {
      throw new FramingError("unexpected_frame", `expected ${typeName(first)} first from the ${this.options.from}, got ${typeName(typeCode)}`, {
        hint: this.options.from === "agent" ? "is something other than `credproxy agent` listening on the agent port?" : "is the peer a credproxy tunnel client?",
      });
    }
    if (this.state === "open" && isHandshake) {
      throw new FramingError("unexpected_frame", `${typeName(typeCode)} after the handshake`);
    }
    if (!isKnown(typeCode) && !this.peerIsNewer()) {
      throw new FramingError("unknown_type", `unknown frame type 0x${hex(typeCode)} from a ${this.options.from} at protocol ${formatVersion(this.peer ?? this.ours)}`);
    }
    const limit = typeCode === FrameType.Packet ? this.maxPacket : isStreamFrameType(typeCode) ? MAX_STREAM_BODY : isKnown(typeCode) ? MAX_CONTROL_BODY : MAX_FRAME_BODY;
    if (length > limit) {
      throw new FramingError("frame_too_large", `${typeName(typeCode)} frame of ${length} bytes is over the ${limit}-byte limit`);
    }
  }

  private accept(typeCode: number, body: Uint8Array, frames: Frame[]): void {
    const frame = decodeBody(typeCode, body, { ours: this.ours, peerRole: this.options.from, peer: this.peer, maxPacket: this.maxPacket });
    if (frame === undefined) {
      this.skippedFrames++;
      return;
    }
    if (frame.type === "hello" || frame.type === "hello_ack") {
      this.peer = frame.version;
      this.state = "open";
    } else if (frame.type === "close") {
      this.state = "closed";
    }
    frames.push(frame);
  }

  private peerIsNewer(): boolean {
    return this.peer !== undefined && this.peer.minor > this.ours.minor;
  }
}

const NAMES = new Map<number, string>([
  [FrameType.Hello, "HELLO"],
  [FrameType.HelloAck, "HELLO_ACK"],
  [FrameType.StripeJoined, "STRIPE_JOINED"],
  [FrameType.StripesLive, "STRIPES_LIVE"],
  [FrameType.Packet, "PACKET"],
  [FrameType.Ping, "PING"],
  [FrameType.Pong, "PONG"],
  [FrameType.RxReport, "RX_REPORT"],
  [FrameType.BoundStats, "BOUND_STATS"],
  [FrameType.Close, "CLOSE"],
  ...STREAM_FRAME_NAMES,
]);

function isKnown(typeCode: number): boolean {
  return NAMES.has(typeCode);
}

function typeName(typeCode: number): string {
  return NAMES.get(typeCode) ?? `type 0x${hex(typeCode)}`;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
