/**
 * smux protocol version 1 frames (ssm-tunnel.md §2.10, checked against the plugin in
 * ssm-tunnel-2.md §7): an 8-byte header `version u8 = 1 | cmd u8 | length u16 LE | streamId u32 LE`
 * and `length` bytes of body. Version 1 has four commands and no flow control (the window
 * update, cmd 4, exists only in version 2), so anything else is a protocol error here: the byte
 * stream cannot be re-synchronised once a header is wrong.
 */
import { protocolError } from "../ssm-error.ts";

export const SMUX_VERSION = 1;
export const SMUX_HEADER_BYTES = 8;
/** The largest body smux sends by default (its MaxFrameSize); we split writes at it too. */
export const SMUX_MAX_FRAME_BODY = 32 * 1024;
/** A body is bounded by its u16 length field; a peer may use all of it. */
export const SMUX_MAX_RECEIVED_BODY = 0xffff;

export const SmuxCmd = { SYN: 0, FIN: 1, PSH: 2, NOP: 3 } as const;
export type SmuxCmd = (typeof SmuxCmd)[keyof typeof SmuxCmd];

export interface SmuxFrame {
  readonly cmd: SmuxCmd;
  readonly streamId: number;
  readonly body: Uint8Array;
}

/** One frame's bytes; only PSH carries a body. */
export function encodeSmuxFrame(cmd: SmuxCmd, streamId: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (body.length > SMUX_MAX_RECEIVED_BODY) throw protocolError("smux-length", `smux frame body of ${body.length} bytes exceeds ${SMUX_MAX_RECEIVED_BODY}`);
  if (cmd !== SmuxCmd.PSH && body.length > 0) throw protocolError("smux-body", `smux cmd ${cmd} carries no body`);
  const out = new Uint8Array(SMUX_HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  out[0] = SMUX_VERSION;
  out[1] = cmd;
  view.setUint16(2, body.length, true);
  view.setUint32(4, streamId >>> 0, true);
  out.set(body, SMUX_HEADER_BYTES);
  return out;
}

/** PSH frames for `data`, each body at most SMUX_MAX_FRAME_BODY, as one buffer (written at once or not at all). */
export function encodeSmuxData(streamId: number, data: Uint8Array): Uint8Array {
  const frames = Math.ceil(data.length / SMUX_MAX_FRAME_BODY);
  const out = new Uint8Array(data.length + frames * SMUX_HEADER_BYTES);
  for (let i = 0; i < frames; i++) {
    const body = data.subarray(i * SMUX_MAX_FRAME_BODY, (i + 1) * SMUX_MAX_FRAME_BODY);
    out.set(encodeSmuxFrame(SmuxCmd.PSH, streamId, body), i * (SMUX_MAX_FRAME_BODY + SMUX_HEADER_BYTES));
  }
  return out;
}

/**
 * Splits a byte stream into frames: bytes arrive in any cut (1024-byte Output messages), frames
 * come out whole, each byte copied once (a 32 KiB frame arrives in 32 pieces). A bad version, an
 * unknown command or a body on a command without one throws, and the decoder stays failed:
 * nothing after a bad header can be trusted.
 */
export class SmuxFrameDecoder {
  private readonly header = new Uint8Array(SMUX_HEADER_BYTES);
  private headerFilled = 0;
  private cmd: SmuxCmd = SmuxCmd.NOP;
  private streamId = 0;
  private body: Uint8Array | undefined;
  private bodyFilled = 0;
  private failed: Error | undefined;

  push(bytes: Uint8Array): SmuxFrame[] {
    if (this.failed !== undefined) throw this.failed;
    const frames: SmuxFrame[] = [];
    let at = 0;
    try {
      while (at < bytes.length) {
        at += this.body === undefined ? this.fillHeader(bytes, at) : this.fillBody(bytes, at);
        const frame = this.completed();
        if (frame !== undefined) frames.push(frame);
      }
    } catch (error) {
      this.failed = error as Error;
      throw error;
    }
    return frames;
  }

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.headerFilled + this.bodyFilled;
  }

  private fillHeader(bytes: Uint8Array, at: number): number {
    const take = Math.min(SMUX_HEADER_BYTES - this.headerFilled, bytes.length - at);
    this.header.set(bytes.subarray(at, at + take), this.headerFilled);
    this.headerFilled += take;
    if (this.headerFilled === SMUX_HEADER_BYTES) this.readHeader();
    return take;
  }

  private fillBody(bytes: Uint8Array, at: number): number {
    const body = this.body!;
    const take = Math.min(body.length - this.bodyFilled, bytes.length - at);
    body.set(bytes.subarray(at, at + take), this.bodyFilled);
    this.bodyFilled += take;
    return take;
  }

  private readHeader(): void {
    const view = new DataView(this.header.buffer);
    const version = view.getUint8(0);
    const cmd = view.getUint8(1);
    const length = view.getUint16(2, true);
    if (version !== SMUX_VERSION) throw protocolError("smux-version", `smux frame version ${version}, expected ${SMUX_VERSION}`, { version });
    if (!isCmd(cmd)) throw protocolError("smux-cmd", `unknown smux v1 command ${cmd}`, { cmd });
    if (cmd !== SmuxCmd.PSH && length !== 0) throw protocolError("smux-body", `smux command ${cmd} with a ${length}-byte body (only PSH has one)`, { cmd, length });
    this.cmd = cmd;
    this.streamId = view.getUint32(4, true);
    this.body = new Uint8Array(length);
  }

  /** The frame whose header and body are both in, if any; the decoder is then ready for the next. */
  private completed(): SmuxFrame | undefined {
    if (this.body === undefined || this.bodyFilled < this.body.length) return undefined;
    const frame = { cmd: this.cmd, streamId: this.streamId, body: this.body };
    this.body = undefined;
    this.headerFilled = 0;
    this.bodyFilled = 0;
    return frame;
  }
}

function isCmd(cmd: number): cmd is SmuxCmd {
  return cmd === SmuxCmd.SYN || cmd === SmuxCmd.FIN || cmd === SmuxCmd.PSH || cmd === SmuxCmd.NOP;
}
