/**
 * The receiving half of one data channel direction: delivers stream messages in sequence order,
 * exactly once, and says what to acknowledge. No I/O: the caller writes the returned acks and
 * hands the delivered payloads on.
 *
 * Rules (ssm-tunnel.md §2.6; ssm-tunnel-2.md §1.4 and §7 on real reordering and duplicates):
 * - seq == expected: deliver it, and every buffered successor; ack it.
 * - expected < seq < expected + capacity: buffer it and ack it.
 * - a duplicate, whether already delivered or already buffered: ack it again, deliver nothing.
 *   (The plugin does not re-ack delivered duplicates, so one lost ack makes the agent resend
 *   forever; here both kinds are re-acked.)
 * - beyond the buffer's bounds: drop it unacked; the sender's resend brings it back later.
 */
import { buildAcknowledge } from "./acknowledge.ts";
import type { ClientMessage } from "./client-message.ts";

export interface IncomingWindowOptions {
  /** How far ahead of the expected number a message may be buffered (the plugin: 10 000). */
  readonly maxBufferedMessages?: number;
  /** Upper bound on buffered payload bytes. */
  readonly maxBufferedBytes?: number;
  /** Fresh ack message ids; crypto.randomUUID by default. */
  readonly newMessageId?: () => string;
}

export interface IncomingResult {
  /** Messages to hand on, in sequence order. */
  readonly deliver: ClientMessage[];
  /** Acknowledge messages to write. */
  readonly ack: ClientMessage[];
}

export interface IncomingStats {
  readonly expectedSequenceNumber: number;
  readonly bufferedMessages: number;
  readonly bufferedBytes: number;
  readonly duplicates: number;
  readonly dropped: number;
}

export const DEFAULT_MAX_BUFFERED_MESSAGES = 10_000;
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export class IncomingWindow {
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private readonly newMessageId: () => string;
  private readonly buffered = new Map<number, ClientMessage>();
  private expected = 0;
  private bufferedBytes = 0;
  private duplicateCount = 0;
  private droppedCount = 0;

  constructor(options: IncomingWindowOptions = {}) {
    this.maxMessages = options.maxBufferedMessages ?? DEFAULT_MAX_BUFFERED_MESSAGES;
    this.maxBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.newMessageId = options.newMessageId ?? (() => crypto.randomUUID());
  }

  /** The next sequence number to deliver. */
  get expectedSequenceNumber(): number {
    return this.expected;
  }

  /** Takes one stream message; `now` (Unix ms) stamps the acks. */
  receive(message: ClientMessage, now: number): IncomingResult {
    const seq = message.sequenceNumber;
    if (seq < this.expected || this.buffered.has(seq)) {
      this.duplicateCount++;
      return { deliver: [], ack: [this.ackFor(message, now)] };
    }
    if (seq === this.expected) return { deliver: this.deliverFrom(message), ack: [this.ackFor(message, now)] };
    if (!this.fits(message)) {
      this.droppedCount++;
      return { deliver: [], ack: [] };
    }
    this.buffered.set(seq, message);
    this.bufferedBytes += message.payload.length;
    return { deliver: [], ack: [this.ackFor(message, now)] };
  }

  /** `first` and every buffered message that follows it without a gap. */
  private deliverFrom(first: ClientMessage): ClientMessage[] {
    const out = [first];
    this.expected++;
    for (let next = this.buffered.get(this.expected); next !== undefined; next = this.buffered.get(this.expected)) {
      this.buffered.delete(this.expected);
      this.bufferedBytes -= next.payload.length;
      out.push(next);
      this.expected++;
    }
    return out;
  }

  /** Whether an early message may be buffered: within the distance bound and the byte bound. */
  private fits(message: ClientMessage): boolean {
    if (message.sequenceNumber >= this.expected + this.maxMessages) return false;
    return this.bufferedBytes + message.payload.length <= this.maxBytes;
  }

  private ackFor(message: ClientMessage, now: number): ClientMessage {
    return buildAcknowledge(message, this.newMessageId(), now);
  }

  stats(): IncomingStats {
    return {
      expectedSequenceNumber: this.expected,
      bufferedMessages: this.buffered.size,
      bufferedBytes: this.bufferedBytes,
      duplicates: this.duplicateCount,
      dropped: this.droppedCount,
    };
  }
}
