import { decodeBody } from "./frame-codec.ts";
import { FramingError } from "./framing-error.ts";
import { FRAME_HEADER_BYTES, FrameType, MAX_CONTROL_BODY, MAX_FRAME_BODY, type Frame } from "./frames.ts";
import { formatVersion, PROTOCOL_VERSION, type ProtocolVersion, type TunnelRole } from "./protocol-version.ts";

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

const EMPTY = new Uint8Array(0);

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
  private pending: Uint8Array = EMPTY;
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
    return this.pending.length;
  }

  /** Feeds the next chunk of the stream; returns the frames it completes, in order. */
  push(chunk: Uint8Array): Frame[] {
    if (this.failure) throw this.failure;
    try {
      return this.drain(chunk);
    } catch (error) {
      this.pending = EMPTY;
      this.failure = error instanceof FramingError ? error : new FramingError("bad_body", `undecodable frame: ${String(error)}`);
      throw this.failure;
    }
  }

  private drain(chunk: Uint8Array): Frame[] {
    if (this.closed) return [];
    const data = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    const frames: Frame[] = [];
    let at = 0;
    while (!this.closed && data.length - at >= FRAME_HEADER_BYTES) {
      const length = (data[at]! << 8) | data[at + 1]!;
      const typeCode = data[at + 2]!;
      this.checkHeader(typeCode, length);
      if (data.length - at - FRAME_HEADER_BYTES < length) break;
      const body = data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
      at += FRAME_HEADER_BYTES + length;
      const frame = this.accept(typeCode, body);
      if (frame) frames.push(frame);
    }
    // A copy: the caller may reuse its chunk.
    this.pending = this.closed || at === data.length ? EMPTY : data.slice(at);
    return frames;
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
    const limit = typeCode === FrameType.Packet ? this.maxPacket : isKnown(typeCode) ? MAX_CONTROL_BODY : MAX_FRAME_BODY;
    if (length > limit) {
      throw new FramingError("frame_too_large", `${typeName(typeCode)} frame of ${length} bytes is over the ${limit}-byte limit`);
    }
  }

  private accept(typeCode: number, body: Uint8Array): Frame | undefined {
    const frame = decodeBody(typeCode, body, { ours: this.ours, peerRole: this.options.from, peer: this.peer, maxPacket: this.maxPacket });
    if (frame === undefined) {
      this.skippedFrames++;
      return undefined;
    }
    if (frame.type === "hello" || frame.type === "hello_ack") {
      this.peer = frame.version;
      this.state = "open";
    } else if (frame.type === "close") {
      this.state = "closed";
    }
    return frame;
  }

  private peerIsNewer(): boolean {
    return this.peer !== undefined && this.peer.minor > this.ours.minor;
  }
}

const NAMES = new Map<number, string>([
  [FrameType.Hello, "HELLO"],
  [FrameType.HelloAck, "HELLO_ACK"],
  [FrameType.Packet, "PACKET"],
  [FrameType.Ping, "PING"],
  [FrameType.Pong, "PONG"],
  [FrameType.Close, "CLOSE"],
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
