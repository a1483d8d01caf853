/**
 * The client end of one smux v1 stream, as pure byte transforms: the session-manager-plugin
 * opens a stream per local TCP connection; credproxy needs exactly one, carrying its framing.
 * Stream ids from a smux client are odd and the first is 3 (its counter starts at 1 and adds 2
 * before each open). smux v1 has no flow control (no window updates), so there is none here:
 * back-pressure stays with the data channel's in-flight bound.
 *
 * NOP keepalives are ignored, as the plugin's smux does; we never send them (the plugin turns
 * its own keepalive off for current agents, and the agent keeps its keepalive off for a
 * ClientVersion > 1.2.331.0, which we always send; our framing PINGs every 15 s anyway).
 */
import { encodeSmuxData, encodeSmuxFrame, SmuxCmd, SmuxFrameDecoder } from "./smux-frame.ts";

export const FIRST_CLIENT_STREAM_ID = 3;

export interface SmuxReceived {
  /** Bodies of PSH frames for our stream, in order. */
  readonly data: Uint8Array[];
  /** True once the peer sent FIN for our stream (it will send no more). */
  readonly finished: boolean;
}

export interface SmuxStreamStats {
  /** Frames for streams other than ours, and SYNs from the peer: ignored. */
  ignoredFrames: number;
  nops: number;
}

export class SmuxClientStream {
  readonly streamId: number;
  readonly stats: SmuxStreamStats = { ignoredFrames: 0, nops: 0 };
  private readonly decoder = new SmuxFrameDecoder();
  private finished = false;

  constructor(streamId: number = FIRST_CLIENT_STREAM_ID) {
    this.streamId = streamId;
  }

  /** The SYN that opens the stream; the agent dials its port when it sees it. */
  open(): Uint8Array {
    return encodeSmuxFrame(SmuxCmd.SYN, this.streamId);
  }

  /** PSH frames carrying `data` (empty for no data). */
  write(data: Uint8Array): Uint8Array {
    return encodeSmuxData(this.streamId, data);
  }

  /** The FIN that closes our half; the agent closes its TCP connection. */
  close(): Uint8Array {
    return encodeSmuxFrame(SmuxCmd.FIN, this.streamId);
  }

  /** Bytes from the peer, cut anywhere; throws a protocol error on a malformed frame. */
  receive(bytes: Uint8Array): SmuxReceived {
    const data: Uint8Array[] = [];
    for (const frame of this.decoder.push(bytes)) {
      if (frame.cmd === SmuxCmd.NOP) this.stats.nops++;
      else if (frame.streamId !== this.streamId || frame.cmd === SmuxCmd.SYN || this.finished) this.stats.ignoredFrames++;
      else if (frame.cmd === SmuxCmd.FIN) this.finished = true;
      else data.push(frame.body);
    }
    return { data, finished: this.finished };
  }
}
