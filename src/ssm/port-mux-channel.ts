/**
 * A data channel whose byte stream is, in mux mode, one smux v1 stream inside the Port session
 * (ssm-tunnel-2.md §7). The mode is read from the agent's HandshakeRequest as the plugin reads
 * it (port-session-mode.ts), synchronously on the first write, delivery or `ready`, because the
 * agent's first Output can arrive in the same batch as HandshakeComplete. In basic mode every
 * call passes straight through; in mux mode writes become PSH frames on stream 3, the SYN goes
 * out when the mode is known, a FIN before close(), and the agent's FIN (its TCP connection to
 * the agent port closed or could not be dialled) ends the channel with an error.
 */
import { silentLogger, type Logger } from "../log.ts";
import type { DataChannel, DataChannelClosed, DataChannelState, DataChannelStats, PortSessionInfo } from "./data-channel-types.ts";
import { portSessionMode, type PortSessionMode } from "./port-session-mode.ts";
import { SmuxClientStream } from "./smux/smux-client-stream.ts";
import { SsmErrorCode, ssmError } from "./ssm-error.ts";

export interface PortMuxOptions {
  readonly logger?: Logger;
}

/** Wraps `inner`; callers see the same DataChannel whichever mode the session runs in. */
export function withPortMux(inner: DataChannel, options: PortMuxOptions = {}): DataChannel {
  return new PortMuxChannel(inner, options.logger ?? silentLogger);
}

class PortMuxChannel implements DataChannel {
  readonly ready: Promise<void>;
  readonly closed: Promise<DataChannelClosed>;
  private readonly stream = new SmuxClientStream();
  private mode: PortSessionMode | undefined;
  /** Writes taken before the mode was known, sent right after it is. */
  private early: Uint8Array[] = [];
  private failure: DataChannelClosed | undefined;
  private finSent = false;
  private readonly listeners: ((bytes: Uint8Array) => void)[] = [];

  constructor(
    private readonly inner: DataChannel,
    private readonly logger: Logger,
  ) {
    this.ready = inner.ready.then(() => void this.decideAtReady());
    this.ready.catch(() => undefined);
    this.closed = inner.closed.then((end) => this.failure ?? end);
    inner.onData((bytes) => this.received(bytes));
  }

  write(bytes: Uint8Array): boolean {
    const mode = this.decide();
    if (mode === undefined) {
      this.early.push(bytes.slice());
      return true;
    }
    if (mode === "basic") return this.inner.write(bytes);
    if (this.finSent || bytes.length === 0) return !this.finSent;
    return this.inner.write(this.stream.write(bytes));
  }

  onData(callback: (bytes: Uint8Array) => void): void {
    this.listeners.push(callback);
  }

  /** Subscribed once, so the agent's FIN is seen even with no listener yet. */
  private received(bytes: Uint8Array): void {
    const out = this.decide() === "mux" ? this.unframe(bytes) : [bytes];
    for (const data of out) for (const listener of this.listeners) listener(data);
  }

  onState(callback: (state: DataChannelState) => void): void {
    this.inner.onState(callback);
  }

  onWritable(callback: () => void): void {
    this.inner.onWritable(callback);
  }

  stats(): DataChannelStats {
    return this.inner.stats();
  }

  portSession(): PortSessionInfo | undefined {
    return this.inner.portSession?.();
  }

  async close(): Promise<DataChannelClosed> {
    if (this.mode === "mux" && !this.finSent) {
      this.finSent = true;
      this.inner.write(this.stream.close());
    }
    await this.inner.close();
    return this.closed;
  }

  /** The mode once the handshake said it; undefined before. Opens the stream on deciding mux. */
  private decide(): PortSessionMode | undefined {
    if (this.mode !== undefined) return this.mode;
    const info = this.inner.portSession?.();
    if (info === undefined) return undefined;
    this.mode = portSessionMode(info);
    this.logAndOpen(info);
    const early = this.early;
    this.early = [];
    for (const bytes of early) this.write(bytes);
    return this.mode;
  }

  /** A channel that reports no Port session (none of ours) is basic. */
  private decideAtReady(): void {
    if (this.decide() !== undefined) return;
    this.mode = "basic";
    const early = this.early;
    this.early = [];
    for (const bytes of early) this.inner.write(bytes);
  }

  private logAndOpen(info: PortSessionInfo): void {
    const fields = { agentVersion: info.agentVersion, type: String(info.properties["type"] ?? "(none)") };
    if (this.mode === "basic") return this.logger.info("port session in basic mode: one raw stream", fields);
    this.logger.info(`port session in mux mode: one smux v1 stream (id ${this.stream.streamId}) carries the tunnel`, fields);
    // The SYN is 8 bytes into an empty window: the data channel always takes it.
    this.inner.write(this.stream.open());
  }

  /** PSH bodies for our stream; FIN or a malformed frame ends the channel. */
  private unframe(bytes: Uint8Array): Uint8Array[] {
    if (this.failure !== undefined) return [];
    try {
      const received = this.stream.receive(bytes);
      if (received.finished) this.fail("the SSM agent closed the smux stream: its connection to the agent port closed or could not be made", "Check that `credproxy agent` listens on the port passed as portNumber.");
      return received.data;
    } catch (error) {
      this.fail(`the SSM agent sent a malformed smux frame: ${(error as Error).message}`, "Use AWS-StartSSHSession (basic mode) if this agent's smux is incompatible.");
      return [];
    }
  }

  private fail(message: string, hint: string): void {
    if (this.failure !== undefined) return;
    const error = ssmError(SsmErrorCode.Protocol, message, { hint });
    this.failure = { reason: message, error };
    this.logger.warn(message);
    void this.inner.close();
  }
}
