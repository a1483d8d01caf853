/**
 * The SSM agent's Port plugin in mux mode (ssm-tunnel.md §2.10, ssm-tunnel-2.md §7), as the fake
 * plays it: the client's Output bytes are a smux v1 stream; each SYN makes one TCP connection to
 * the target, PSH bodies are written to it, the client's FIN closes it; bytes read from a
 * connection go back as PSH frames on its stream and its close as FIN. A failed dial answers
 * with the ConnectToPortError flag and a FIN, as the agent does. The frames toward the client
 * go through the agent's usual pump (1024-byte Output messages, 1 ms apart), as the real agent
 * reads its smux server's socket the same way. DisconnectToPort means nothing in mux mode.
 */
import { connect, type Socket } from "node:net";
import { encodeSmuxData, encodeSmuxFrame, SmuxCmd, SmuxFrameDecoder, type SmuxFrame } from "../../../src/ssm/smux/smux-frame.ts";

export interface FakeMuxPortOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** smux bytes toward the client (into the agent's pump). */
  readonly send: (bytes: Buffer) => void;
  /** The agent's ConnectToPortError flag. */
  readonly connectError: () => void;
}

export interface MuxPortStats {
  streamsOpened: number;
  streamsClosed: number;
  badFrames: number;
  nops: number;
  /** FIN frames from the client for an open stream. */
  fins: number;
}

export class FakeMuxPort {
  readonly stats: MuxPortStats = { streamsOpened: 0, streamsClosed: 0, badFrames: 0, nops: 0, fins: 0 };
  private readonly decoder = new SmuxFrameDecoder();
  private readonly streams = new Map<number, Socket>();
  private paused = false;
  private broken = false;

  constructor(private readonly options: FakeMuxPortOptions) {}

  /** Client Output: smux bytes cut anywhere. A malformed frame ends every stream (smux closes its session). */
  write(bytes: Uint8Array): void {
    if (this.broken) return;
    let frames: SmuxFrame[];
    try {
      frames = this.decoder.push(bytes);
    } catch {
      this.stats.badFrames++;
      this.broken = true;
      return this.destroy();
    }
    for (const frame of frames) this.handle(frame);
  }

  private handle(frame: SmuxFrame): void {
    const socket = this.streams.get(frame.streamId);
    if (frame.cmd === SmuxCmd.NOP) this.stats.nops++;
    else if (frame.cmd === SmuxCmd.SYN) {
      if (socket === undefined) this.dial(frame.streamId);
    } else if (frame.cmd === SmuxCmd.PSH) socket?.write(frame.body);
    else if (socket !== undefined) {
      this.stats.fins++;
      socket.end();
    }
  }

  private dial(streamId: number): void {
    this.stats.streamsOpened++;
    const socket = connect({ host: this.options.target.host, port: this.options.target.port });
    let connected = false;
    this.streams.set(streamId, socket);
    if (this.paused) socket.pause();
    socket.on("connect", () => (connected = true));
    socket.on("data", (chunk: Buffer) => this.options.send(Buffer.from(encodeSmuxData(streamId, chunk))));
    const closed = () => {
      if (this.streams.get(streamId) !== socket) return;
      this.streams.delete(streamId);
      this.stats.streamsClosed++;
      if (!connected) this.options.connectError();
      this.options.send(Buffer.from(encodeSmuxFrame(SmuxCmd.FIN, streamId)));
    };
    socket.on("end", closed);
    socket.on("close", closed);
    socket.on("error", () => socket.destroy());
  }

  /** Stop / start reading every connection (the agent's pump is backed up / has room). */
  pause(): void {
    this.paused = true;
    for (const socket of this.streams.values()) socket.pause();
  }

  resume(): void {
    this.paused = false;
    for (const socket of this.streams.values()) socket.resume();
  }

  /** DisconnectToPort: the mux plugin ignores it. */
  end(): void {}

  destroy(): void {
    const sockets = [...this.streams.values()];
    this.streams.clear();
    for (const socket of sockets) socket.destroy();
  }

  get openStreams(): number {
    return this.streams.size;
  }
}
