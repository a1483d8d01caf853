/**
 * The sending half of one data channel direction: sequence numbers, the unacked store, acks,
 * resends. No timers and no socket: the caller passes `now` (Unix epoch ms, also used as
 * CreatedDate) and writes whatever frames a method returns.
 *
 * Differences from the official plugin, on purpose (ssm-tunnel.md §2.6, ssm-tunnel-2.md §7):
 * - `due()` returns every message whose timeout passed, not one per 100 ms tick, so one loss
 *   costs one RTO instead of ~100 ms per lost message.
 * - The store is bounded by bytes and a full store refuses new data before it gets a sequence
 *   number; the plugin drops its oldest message instead, leaving a gap that never heals.
 * - While paused (socket down, or pause_publication) nothing is written or resent: new data is
 *   queued, the resend timer stops. The plugin writing into a closed socket is how it dies with
 *   "websocket: close sent". `resume()` then writes everything unacked at once.
 */
import { CLIENT_MESSAGE_HEADER_BYTES, encodeClientMessage, type ClientMessage } from "./client-message.ts";
import { HeaderFlag, MessageType, SCHEMA_VERSION } from "./message-types.ts";
import { RttEstimator, type RttSettings } from "./rtt-estimator.ts";

/** One message held by the window, with its encoded frame (resends send the same bytes). */
export interface OutgoingMessage {
  readonly message: ClientMessage;
  readonly frame: Uint8Array;
}

export type PushResult =
  | { readonly accepted: true; readonly sequenceNumber: number; readonly write: readonly OutgoingMessage[] }
  | { readonly accepted: false };

/** Why sending is stopped; the window sends again only when no reason is left. */
export type PauseReason = "socket" | "publication";

export interface OutgoingWindowOptions {
  /** Upper bound on the encoded bytes of unacked plus queued messages. */
  readonly maxUnackedBytes: number;
  /** input_stream_data for the client, output_stream_data for a fake agent. */
  readonly messageType?: string;
  /** Fresh message ids; crypto.randomUUID by default. */
  readonly newMessageId?: () => string;
  readonly rtt?: Partial<RttSettings>;
}

export interface PushOptions {
  /** Accept even over the byte bound: for the few control messages (handshake, TerminateSession) that must not be dropped. */
  readonly evenIfFull?: boolean;
}

export interface OutgoingStats {
  readonly nextSequenceNumber: number;
  readonly unackedMessages: number;
  readonly unackedBytes: number;
  readonly resends: number;
  readonly srttMs: number;
  readonly rtoMs: number;
}

interface Entry extends OutgoingMessage {
  /** Undefined while queued and never written. */
  lastSentAt: number | undefined;
}

export class OutgoingWindow {
  private readonly options: OutgoingWindowOptions;
  private readonly rtt: RttEstimator;
  private readonly newMessageId: () => string;
  /** Unacked and queued messages by sequence number; Map keeps insertion (= sequence) order. */
  private readonly entries = new Map<number, Entry>();
  private readonly pauses = new Set<PauseReason>();
  private nextSequence = 0;
  private bytes = 0;
  private resendCount = 0;

  constructor(options: OutgoingWindowOptions) {
    this.options = options;
    this.rtt = new RttEstimator(options.rtt);
    this.newMessageId = options.newMessageId ?? (() => crypto.randomUUID());
  }

  /** True while any pause reason is set. */
  get paused(): boolean {
    return this.pauses.size > 0;
  }

  /**
   * Numbers and stores a stream message. Refused (and no sequence number used) when it would
   * push the store over `maxUnackedBytes`; the caller drops at its own ingress instead.
   */
  push(payloadType: number, payload: Uint8Array, now: number, options: PushOptions = {}): PushResult {
    const size = CLIENT_MESSAGE_HEADER_BYTES + payload.length;
    if (!options.evenIfFull && this.bytes + size > this.options.maxUnackedBytes) return { accepted: false };
    const message = this.buildMessage(payloadType, payload, now);
    const frame = encodeClientMessage(message);
    const entry: Entry = { message, frame, lastSentAt: this.paused ? undefined : now };
    this.entries.set(message.sequenceNumber, entry);
    this.bytes += frame.length;
    this.nextSequence++;
    return { accepted: true, sequenceNumber: message.sequenceNumber, write: this.paused ? [] : [entry] };
  }

  private buildMessage(payloadType: number, payload: Uint8Array, now: number): ClientMessage {
    return {
      messageType: this.options.messageType ?? MessageType.InputStreamData,
      schemaVersion: SCHEMA_VERSION,
      createdDate: now,
      sequenceNumber: this.nextSequence,
      flags: HeaderFlag.None,
      messageId: this.newMessageId(),
      payloadType,
      payload,
    };
  }

  /** Handles an ack by sequence number; false for an unknown or already-acked one. */
  acknowledge(sequenceNumber: number, now: number): boolean {
    const entry = this.entries.get(sequenceNumber);
    if (entry === undefined) return false;
    this.entries.delete(sequenceNumber);
    this.bytes -= entry.frame.length;
    if (entry.lastSentAt !== undefined) this.rtt.sample(now - entry.lastSentAt);
    return true;
  }

  /** Every written message whose RTO has run out, in sequence order; each counts as resent at `now`. */
  due(now: number): OutgoingMessage[] {
    if (this.paused) return [];
    const rto = this.rtt.rtoMs;
    const out: OutgoingMessage[] = [];
    for (const entry of this.entries.values()) {
      if (entry.lastSentAt !== undefined && now - entry.lastSentAt >= rto) {
        entry.lastSentAt = now;
        this.resendCount++;
        out.push(entry);
      }
    }
    return out;
  }

  /** When `due()` next has something to return: the time to set the caller's one timer for. */
  nextDueAt(): number | undefined {
    if (this.paused) return undefined;
    let earliest: number | undefined;
    for (const entry of this.entries.values()) {
      if (entry.lastSentAt !== undefined && (earliest === undefined || entry.lastSentAt < earliest)) earliest = entry.lastSentAt;
    }
    return earliest === undefined ? undefined : earliest + this.rtt.rtoMs;
  }

  /** Stops writing and resending until `resume(reason)`. */
  pause(reason: PauseReason): void {
    this.pauses.add(reason);
  }

  /**
   * Clears one pause reason. When none is left, returns every stored message (queued and
   * unacked) in sequence order to write now: after a reconnect nothing in flight can be trusted.
   */
  resume(reason: PauseReason, now: number): OutgoingMessage[] {
    if (!this.pauses.delete(reason) || this.paused) return [];
    const out: OutgoingMessage[] = [];
    for (const entry of this.entries.values()) {
      if (entry.lastSentAt !== undefined) this.resendCount++;
      entry.lastSentAt = now;
      out.push(entry);
    }
    return out;
  }

  stats(): OutgoingStats {
    return {
      nextSequenceNumber: this.nextSequence,
      unackedMessages: this.entries.size,
      unackedBytes: this.bytes,
      resends: this.resendCount,
      srttMs: this.rtt.srttMs,
      rtoMs: this.rtt.rtoMs,
    };
  }
}
