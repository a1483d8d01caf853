/** Test support: the SSM agent's end of an agent session's connection, decoding what arrives. */
import { FrameDecoder, type Frame } from "../tunnel/framing.ts";
import type { AgentConnection } from "./agent-session.ts";

/** The SSM agent's end of the connection: takes `room` bytes at a time, decodes what arrives. */
export class FakeConnection implements AgentConnection {
  room = Infinity;
  ended = false;
  destroyed = false;
  private readonly decoder = new FrameDecoder({ from: "agent" });
  readonly frames: Frame[] = [];
  write(data: Uint8Array): number {
    if (this.ended || this.destroyed) return -1;
    const taken = Math.min(this.room, data.length);
    this.room -= taken;
    this.frames.push(...this.decoder.push(data.subarray(0, taken)));
    return taken;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  of<T extends Frame["type"]>(type: T): Extract<Frame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<Frame, { type: T }> => f.type === type);
  }
}

