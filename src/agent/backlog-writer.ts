/**
 * Writes frames toward the SSM agent's TCP connection without ever blocking and without a
 * hidden queue (ssm-tunnel.md §9, agent side). The SSM agent drains that connection at about
 * 1 KiB per ms, so whatever waits in front of it is delay added to every flow through the
 * tunnel. The socket gets a small SO_SNDBUF (agent-server.ts); on top of that we keep only the
 * tail of frames the kernel did not take yet, and:
 *
 * - a PACKET frame is dropped (and counted) when that backlog is already over the bound, so the
 *   inner TCP sees a loss and slows down instead of queueing;
 * - control frames (HELLO, PONG, PING, CLOSE) are never dropped: they go behind the backlog
 *   whatever its size, so the peer always learns why a session ends;
 * - a frame is written whole or not at all, so the byte stream never holds half a frame.
 *
 * The sink is Bun's socket shape: `write` returns how many bytes the kernel took now (0 when
 * its buffer is full, negative once closed), and the owner calls `flush()` on its drain event.
 */

export interface ByteSink {
  /** Bytes taken now (0..data.length); negative when the connection is gone. */
  write(data: Uint8Array): number;
}

export interface BacklogWriterOptions {
  /** Backlog above which PACKET frames are dropped. Default 64 KiB. */
  readonly maxBacklogBytes?: number;
  /**
   * Backlog above which the connection counts as stuck (control frames pile up only when the
   * SSM agent stopped reading altogether). Default 1 MiB.
   */
  readonly stuckBytes?: number;
}

export interface BacklogStats {
  packetsWritten: number;
  bytesWritten: number;
  /** PACKET frames dropped because the backlog was over the bound. */
  packetsDropped: number;
  bytesDropped: number;
  controlFrames: number;
  /** The most the backlog ever held. */
  peakBacklogBytes: number;
}

export const DEFAULT_MAX_BACKLOG_BYTES = 64 * 1024;
export const DEFAULT_STUCK_BYTES = 1024 * 1024;

export class BacklogWriter {
  private readonly queue: Uint8Array[] = [];
  /** Bytes of queue[0] already written. */
  private headOffset = 0;
  private queued = 0;
  private closed = false;
  private readonly maxBacklog: number;
  private readonly stuckLimit: number;
  private readonly counters: BacklogStats = { packetsWritten: 0, bytesWritten: 0, packetsDropped: 0, bytesDropped: 0, controlFrames: 0, peakBacklogBytes: 0 };

  constructor(
    private readonly sink: ByteSink,
    options: BacklogWriterOptions = {},
  ) {
    this.maxBacklog = options.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES;
    this.stuckLimit = options.stuckBytes ?? DEFAULT_STUCK_BYTES;
  }

  /** Bytes waiting for the kernel to take them. */
  get backlogBytes(): number {
    return this.queued;
  }

  /** True once the connection refused a write (it is gone). */
  get failed(): boolean {
    return this.closed;
  }

  /** True when control frames have piled up past the stuck limit: the reader is gone in all but name. */
  get stuck(): boolean {
    return this.queued > this.stuckLimit;
  }

  /** Writes one framed PACKET, or drops it when the backlog is over the bound. True when kept. */
  writePacket(frame: Uint8Array): boolean {
    if (this.closed || this.queued > this.maxBacklog) {
      this.counters.packetsDropped++;
      this.counters.bytesDropped += frame.length;
      return false;
    }
    this.counters.packetsWritten++;
    this.counters.bytesWritten += frame.length;
    this.enqueue(frame);
    return true;
  }

  /** Writes one control frame; never dropped while the connection lives. */
  writeControl(frame: Uint8Array): void {
    if (this.closed) return;
    this.counters.controlFrames++;
    this.enqueue(frame);
  }

  /** Hands the kernel as much of the backlog as it takes now; call on the socket's drain. */
  flush(): void {
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0]!;
      const rest = this.headOffset === 0 ? head : head.subarray(this.headOffset);
      const taken = this.sink.write(rest);
      if (taken < 0) return this.fail();
      this.queued -= taken;
      if (taken < rest.length) {
        this.headOffset += taken;
        return;
      }
      this.queue.shift();
      this.headOffset = 0;
    }
  }

  stats(): BacklogStats {
    return { ...this.counters };
  }

  private enqueue(frame: Uint8Array): void {
    if (this.queue.length === 0) {
      // The common case: nothing waits, so the frame goes straight to the kernel.
      const taken = this.sink.write(frame);
      if (taken < 0) return this.fail();
      if (taken === frame.length) return;
      this.queue.push(frame);
      this.headOffset = taken;
      this.queued += frame.length - taken;
    } else {
      this.queue.push(frame);
      this.queued += frame.length;
    }
    this.counters.peakBacklogBytes = Math.max(this.counters.peakBacklogBytes, this.queued);
  }

  private fail(): void {
    this.closed = true;
    this.queue.length = 0;
    this.queued = 0;
    this.headOffset = 0;
  }
}
