import { describe, expect, test } from "bun:test";
import type { DataChannel, DataChannelClosed, DataChannelState, DataChannelStats, PortSessionInfo } from "./data-channel-types.ts";
import { withPortMux } from "./port-mux-channel.ts";
import { encodeSmuxFrame, SmuxCmd, SmuxFrameDecoder } from "./smux/smux-frame.ts";

/** The data channel under the wrapper: records writes, delivers what the test sends. */
class InnerChannel implements DataChannel {
  readonly written: Uint8Array[] = [];
  port: PortSessionInfo | undefined;
  closedByClient = false;
  private readonly listeners: ((bytes: Uint8Array) => void)[] = [];
  private readonly readyDeferred = Promise.withResolvers<void>();
  private readonly closedDeferred = Promise.withResolvers<DataChannelClosed>();
  readonly ready = this.readyDeferred.promise;
  readonly closed = this.closedDeferred.promise;
  write(bytes: Uint8Array): boolean {
    this.written.push(bytes);
    return true;
  }
  onData(callback: (bytes: Uint8Array) => void): void {
    this.listeners.push(callback);
  }
  onState(_: (state: DataChannelState) => void): void {}
  onWritable(): void {}
  stats(): DataChannelStats {
    return { state: "up", sessionId: "s", bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, resends: 0, duplicates: 0, parseErrors: 0, srttMs: 0, rtoMs: 0, reconnects: 0, unackedBytes: 0 };
  }
  portSession(): PortSessionInfo | undefined {
    return this.port;
  }
  async close(): Promise<DataChannelClosed> {
    this.closedByClient = true;
    this.closedDeferred.resolve({ reason: "closed by the client" });
    return this.closed;
  }
  /** The agent's HandshakeRequest was answered, then HandshakeComplete. */
  handshake(properties: Record<string, unknown>, agentVersion = "3.3.4624.0"): void {
    this.port = { agentVersion, properties };
    this.readyDeferred.resolve();
  }
  deliver(bytes: Uint8Array): void {
    for (const listener of this.listeners) listener(bytes);
  }
  frames() {
    const decoder = new SmuxFrameDecoder();
    return this.written.flatMap((bytes) => decoder.push(bytes)).map((f) => [f.cmd, f.streamId, Buffer.from(f.body).toString()]);
  }
}

const text = (s: string) => new TextEncoder().encode(s);
const forwarding = { portNumber: "7860", type: "LocalPortForwarding" };

describe("withPortMux", () => {
  test("basic mode (AWS-StartSSHSession) passes bytes through untouched", async () => {
    const inner = new InnerChannel();
    const channel = withPortMux(inner);
    const got: string[] = [];
    channel.onData((b) => got.push(Buffer.from(b).toString()));
    inner.handshake({ portNumber: "7860" });
    await channel.ready;
    channel.write(text("hello"));
    inner.deliver(text("world"));
    expect(inner.written.map((b) => Buffer.from(b).toString())).toEqual(["hello"]);
    expect(got).toEqual(["world"]);
  });

  test("mux mode sends SYN first, then writes as PSH on stream 3, and FIN before closing", async () => {
    const inner = new InnerChannel();
    const channel = withPortMux(inner);
    channel.write(text("early"));
    inner.handshake(forwarding);
    await channel.ready;
    channel.write(text("later"));
    await channel.close();
    expect(inner.frames()).toEqual([[SmuxCmd.SYN, 3, ""], [SmuxCmd.PSH, 3, "early"], [SmuxCmd.PSH, 3, "later"], [SmuxCmd.FIN, 3, ""]]);
    expect(inner.closedByClient).toBe(true);
  });

  test("mux mode delivers only our stream's PSH bodies, even when data comes in the same tick as the handshake", () => {
    const inner = new InnerChannel();
    const channel = withPortMux(inner);
    const got: string[] = [];
    channel.onData((b) => got.push(Buffer.from(b).toString()));
    inner.port = { agentVersion: "3.3.4624.0", properties: forwarding };
    const frame = Buffer.concat([encodeSmuxFrame(SmuxCmd.NOP, 0), encodeSmuxFrame(SmuxCmd.PSH, 3, text("HELLO")), encodeSmuxFrame(SmuxCmd.PSH, 7, text("other"))]);
    inner.deliver(frame.subarray(0, 11));
    inner.deliver(frame.subarray(11));
    expect(got).toEqual(["HELLO"]);
    expect(inner.frames()[0]).toEqual([SmuxCmd.SYN, 3, ""]);
  });

  test("an old agent (3.0.196.0) stays basic even for LocalPortForwarding", async () => {
    const inner = new InnerChannel();
    const channel = withPortMux(inner);
    inner.handshake(forwarding, "3.0.196.0");
    await channel.ready;
    channel.write(text("raw"));
    expect(inner.written.map((b) => Buffer.from(b).toString())).toEqual(["raw"]);
  });

  test("the agent's FIN ends the channel with an error naming the agent port", async () => {
    const inner = new InnerChannel();
    const channel = withPortMux(inner);
    inner.handshake(forwarding);
    await channel.ready;
    inner.deliver(encodeSmuxFrame(SmuxCmd.FIN, 3));
    const end = await channel.closed;
    expect(end.error?.message).toMatch(/closed the smux stream/);
    expect(end.error?.hint).toMatch(/portNumber/);
    expect(inner.closedByClient).toBe(true);
  });

  test("a malformed frame from the agent ends the channel with a protocol error", async () => {
    const inner = new InnerChannel();
    const channel = withPortMux(inner);
    const got: Uint8Array[] = [];
    channel.onData((b) => got.push(b));
    inner.handshake(forwarding);
    await channel.ready;
    inner.deliver(new Uint8Array([2, 2, 0, 0, 3, 0, 0, 0]));
    inner.deliver(encodeSmuxFrame(SmuxCmd.PSH, 3, text("after")));
    expect((await channel.closed).error?.message).toMatch(/malformed smux frame: smux frame version 2/);
    expect(got).toEqual([]);
  });
});
