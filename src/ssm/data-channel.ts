/**
 * The Session Manager data channel client: one Port session carried over Bun's WebSocket.
 * The protocol pieces are the pure modules next to this file; this one owns the socket, the
 * timers and the session's life (ssm-tunnel.md §2, ssm-tunnel-2.md §1 and §7):
 *
 * - StartSession (injected) → signed upgrade to the StreamUrl → open frame → handshake (Port only).
 * - Every incoming stream message is acked, duplicates included; delivery is in order, once.
 * - One resend timer, re-armed at the outgoing window's nextDueAt; it is off while the socket
 *   is down or publication is paused, and new data is queued then, never written.
 * - A socket close without channel_closed (the hourly 1000 "Bye" included) means ResumeSession,
 *   a dial to the NEW StreamUrl with fresh credentials and the same ClientId, with backoff inside
 *   a budget of minutes; everything unacked is written again on the new socket.
 * - channel_closed ends the channel; close() sends the TerminateSession flag and calls TerminateSession.
 */
import { CredproxyError } from "../errors.ts";
import { silentLogger, type Logger } from "../log.ts";
import { parseAcknowledge } from "./acknowledge.ts";
import { parseChannelClosed, type ChannelClosed } from "./channel-closed.ts";
import { ChannelSender } from "./channel-sender.ts";
import { decodeClientMessage, encodeClientMessage, type ClientMessage } from "./client-message.ts";
import { checkClientVersion, DEFAULT_CLIENT_VERSION } from "./client-version.ts";
import type { DataChannel, DataChannelClosed, DataChannelOptions, DataChannelState, DataChannelStats, PortSessionInfo } from "./data-channel-types.ts";
import { DialError, dialStream } from "./dial-stream.ts";
import { buildFlagPayload } from "./flag-payload.ts";
import { answerHandshake, parseHandshakeComplete, parseHandshakeRequest } from "./handshake.ts";
import { IncomingWindow } from "./incoming-window.ts";
import { MessageType, PayloadType, StreamFlag } from "./message-types.ts";
import { buildOpenDataChannelFrame } from "./open-data-channel.ts";
import { retryWithinBudget, type Outage } from "./retry-within-budget.ts";
import { afterSocketClose } from "./socket-close.ts";
import { SsmErrorCode, ssmError } from "./ssm-error.ts";
import { checkStreamUrl, insecureStreamUrlFromEnv } from "./stream-url.ts";

export type * from "./data-channel-types.ts";

export const DEFAULT_MAX_IN_FLIGHT_BYTES = 64 * 1024;
export const DEFAULT_RESUME_BUDGET_MS = 5 * 60_000;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 20_000;

/** Starts the session and its first connection; use `ready` to wait for the handshake. */
export function openDataChannel(options: DataChannelOptions): DataChannel {
  const channel = new SsmDataChannel(options);
  void channel.run();
  return channel;
}

class SsmDataChannel implements DataChannel {
  private readonly options: DataChannelOptions;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly clientId: string;
  private readonly clientVersion: string;
  private readonly allowInsecure: boolean;
  private readonly sender: ChannelSender;
  private readonly incoming = new IncomingWindow();
  private readonly readyDeferred = Promise.withResolvers<void>();
  private readonly closedDeferred = Promise.withResolvers<DataChannelClosed>();
  private readonly dataListeners: ((bytes: Uint8Array) => void)[] = [];
  private readonly stateListeners: ((state: DataChannelState) => void)[] = [];
  private state: DataChannelState = "connecting";
  private sessionId: string | undefined;
  private streamUrl = "";
  private ws: WebSocket | undefined;
  private handshakeDone = false;
  private channelClosed: ChannelClosed | undefined;
  private port: PortSessionInfo | undefined;
  private ended = false;
  private closing = false;
  /** The current outage; cleared by the first frame on a new socket, so one that opens and drops at once stays inside the budget. */
  private outage: Outage | undefined;
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private backoffTimer: ReturnType<typeof setTimeout> | undefined;
  private wakeBackoff: (() => void) | undefined;
  private counters = { bytesIn: 0, messagesIn: 0, parseErrors: 0, reconnects: 0 };

  readonly ready: Promise<void>;
  readonly closed: Promise<DataChannelClosed>;

  constructor(options: DataChannelOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.clientId = options.clientId ?? crypto.randomUUID();
    this.clientVersion = checkClientVersion(options.clientVersion ?? DEFAULT_CLIENT_VERSION);
    this.allowInsecure = options.allowInsecureStreamUrl ?? insecureStreamUrlFromEnv();
    this.sender = new ChannelSender({
      maxInFlightBytes: options.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES,
      now: this.now,
      send: (frame) => this.sendFrame(frame),
      bufferedAmount: () => this.ws?.bufferedAmount ?? 0,
    });
    this.ready = this.readyDeferred.promise;
    this.closed = this.closedDeferred.promise;
    // A caller that only awaits `closed` must not see an unhandled rejection of `ready`.
    this.ready.catch(() => undefined);
  }

  // ——— public API ———

  write(bytes: Uint8Array): boolean {
    return !this.ended && !this.closing && this.sender.write(bytes);
  }

  onData(callback: (bytes: Uint8Array) => void): void {
    this.dataListeners.push(callback);
  }

  portSession(): PortSessionInfo | undefined {
    return this.port;
  }

  onState(callback: (state: DataChannelState) => void): void {
    this.stateListeners.push(callback);
  }

  onWritable(callback: () => void): void {
    this.sender.onWritable(callback);
  }

  stats(): DataChannelStats {
    const out = this.sender.stats();
    return {
      state: this.state,
      sessionId: this.sessionId,
      ...this.counters,
      bytesOut: this.sender.bytesOut,
      messagesOut: this.sender.messagesOut,
      resends: out.resends,
      duplicates: this.incoming.stats().duplicates,
      srttMs: out.srttMs,
      rtoMs: out.rtoMs,
      unackedBytes: out.unackedBytes + out.queuedBytes,
    };
  }

  async close(): Promise<DataChannelClosed> {
    if (this.ended || this.closing) return this.closed;
    this.closing = true;
    if (this.handshakeDone && this.ws?.readyState === WebSocket.OPEN) {
      this.sender.pushControl(PayloadType.Flag, buildFlagPayload(StreamFlag.TerminateSession));
    }
    await this.callTerminate();
    this.end("closed by the client");
    return this.closed;
  }

  // ——— session life ———

  /** StartSession and the first connection; a failure here ends the channel. */
  async run(): Promise<void> {
    this.handshakeTimer = setTimeout(() => this.handshakeTimedOut(), this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    try {
      const started = await this.options.start();
      this.sessionId = started.sessionId;
      if (this.ended) return void this.callTerminate();
      await this.connect(started.streamUrl, started.tokenValue);
    } catch (err) {
      // A first dial that fails on the network is an outage like any other: resume within the budget.
      if (err instanceof DialError && this.sessionId !== undefined && !this.ended) return this.resumeLoop();
      this.end(`could not open the data channel: ${messageOf(err)}`, asCredproxyError(err, "could not open the data channel"));
    }
  }

  /** Checks the URL, dials it signed with fresh credentials, sends the open frame, writes everything unacked. */
  private async connect(url: string, tokenValue: string): Promise<void> {
    checkStreamUrl(url, this.allowInsecure, this.options.streamEndpoint);
    const openFrame = buildOpenDataChannelFrame({ tokenValue, clientId: this.clientId, requestId: crypto.randomUUID(), clientVersion: this.clientVersion });
    const credentials = await this.options.credentials();
    const ws = await dialStream({ url, credentials, region: this.options.region, logger: this.logger });
    if (this.ended) return void ws.close(1000, "client done");
    this.streamUrl = url;
    this.ws = ws;
    ws.onmessage = (event) => this.receive(ws, event.data);
    ws.onclose = (event) => this.socketClosed(ws, event.code, event.reason);
    ws.send(openFrame);
    this.logger.debug("data channel open", { sessionId: this.sessionId, host: new URL(url).host });
    this.sender.socketUp();
    if (this.handshakeDone) this.setState("up");
  }

  private socketClosed(ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = undefined;
    this.sender.socketDown();
    const next = afterSocketClose({ code, reason }, this.channelClosed);
    if (this.ended || this.closing) return;
    if (next.action === "end") return this.end(next.why);
    this.logger.info("data channel socket closed; resuming", { sessionId: this.sessionId, why: next.why });
    void this.resumeLoop();
  }

  /** ResumeSession and reconnect until it works, the session is gone, or the outage outlasts the budget. */
  private async resumeLoop(): Promise<void> {
    this.setState("resuming");
    this.outage ??= { since: this.now(), attempts: 0 };
    const outcome = await retryWithinBudget({
      attempt: () => this.resumeOnce(),
      isFatal: (err) => err instanceof CredproxyError && err.code === SsmErrorCode.Setting,
      stopped: () => this.ended || this.closing,
      now: this.now,
      outage: this.outage,
      budgetMs: this.options.resumeBudgetMs ?? DEFAULT_RESUME_BUDGET_MS,
      sleep: (ms) => this.sleep(ms),
      onRetry: (attempt, delayMs, err) => this.logger.warn("resuming the data channel failed; retrying", { sessionId: this.sessionId, attempt, delayMs, error: messageOf(err) }),
    });
    if (outcome.kind === "up") this.counters.reconnects++;
    else if (outcome.kind === "fatal") this.end(messageOf(outcome.error), asCredproxyError(outcome.error, "could not resume the session"));
    else if (outcome.kind === "exhausted") this.giveUpResuming(outcome.error);
  }

  /** One ResumeSession and dial; true when a new socket is up. */
  private async resumeOnce(): Promise<boolean> {
    const resumed = await this.options.resume(this.sessionId!);
    if (this.ended || this.closing) return false;
    if (resumed === undefined || resumed.tokenValue === "") {
      throw ssmError(SsmErrorCode.Setting, "the session has timed out or been terminated: ResumeSession returned no token", { hint: "Start a new session." });
    }
    // The plugin keeps the old URL when ResumeSession returns none.
    await this.connect(resumed.streamUrl === "" ? this.streamUrl : resumed.streamUrl, resumed.tokenValue);
    return this.ws !== undefined;
  }

  private giveUpResuming(err: unknown): void {
    const budget = this.options.resumeBudgetMs ?? DEFAULT_RESUME_BUDGET_MS;
    const error = ssmError(SsmErrorCode.Setting, `could not resume the session within ${formatMs(budget)}: ${messageOf(err)}`, {
      hint: "Check the network path to ssmmessages and that the credentials still allow ssm:ResumeSession.",
      cause: err,
    });
    this.end(error.message, error);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeBackoff = resolve;
      this.backoffTimer = setTimeout(resolve, ms);
    });
  }

  private handshakeTimedOut(): void {
    if (this.handshakeDone) return;
    const timeout = formatMs(this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    const error = ssmError(SsmErrorCode.Handshake, `no data channel handshake within ${timeout}`, {
      hint: "Check that the instance's SSM agent is online and that the document starts a Port session.",
    });
    void this.callTerminate();
    this.end(error.message, error);
  }

  /** Ends the channel once: timers off, socket closed, `ready` rejected if pending, `closed` resolved. */
  private end(reason: string, error?: CredproxyError): void {
    if (this.ended) return;
    this.ended = true;
    for (const timer of [this.handshakeTimer, this.backoffTimer]) clearTimeout(timer);
    this.sender.stop();
    this.wakeBackoff?.();
    const finalReason = this.closing ? "closed by the client" : reason;
    this.readyDeferred.reject(error ?? ssmError(SsmErrorCode.Handshake, `the data channel ended before the handshake: ${finalReason}`));
    const ws = this.ws;
    this.ws = undefined;
    if (ws !== undefined && ws.readyState <= WebSocket.OPEN) ws.close(1000, "client done");
    this.setState("down");
    this.logger.info("data channel ended", { sessionId: this.sessionId, reason: finalReason });
    this.closedDeferred.resolve(error === undefined ? { reason: finalReason } : { reason: finalReason, error });
  }

  private async callTerminate(): Promise<void> {
    if (this.sessionId === undefined || this.options.terminate === undefined) return;
    try {
      await this.options.terminate(this.sessionId);
    } catch (err) {
      this.logger.warn("TerminateSession failed", { sessionId: this.sessionId, error: messageOf(err) });
    }
  }

  private setState(state: DataChannelState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  // ——— incoming ———

  /** One frame; a frame that does not decode is counted and skipped, never fatal. */
  private receive(ws: WebSocket, data: unknown): void {
    if (this.ws !== ws || this.ended) return;
    if (!(data instanceof ArrayBuffer)) return void this.counters.parseErrors++;
    let message: ClientMessage;
    try {
      message = decodeClientMessage(new Uint8Array(data));
    } catch (err) {
      this.counters.parseErrors++;
      this.logger.debug("skipped an undecodable data channel frame", { error: messageOf(err) });
      return;
    }
    this.outage = undefined;
    try {
      this.dispatch(message);
    } catch (err) {
      if (!(err instanceof CredproxyError && err.code === SsmErrorCode.Protocol)) throw err;
      this.counters.parseErrors++;
      this.logger.debug("skipped an unreadable data channel message", { type: message.messageType, error: err.message });
    }
  }

  private dispatch(message: ClientMessage): void {
    switch (message.messageType) {
      case MessageType.Acknowledge:
        return this.sender.acknowledged(parseAcknowledge(message.payload).acknowledgedMessageSequenceNumber);
      case MessageType.OutputStreamData:
        return this.streamMessage(message);
      case MessageType.ChannelClosed:
        return this.serviceClosed(message);
      case MessageType.PausePublication:
        return this.sender.pausePublication();
      case MessageType.StartPublication:
        return this.sender.startPublication();
      default:
        return;
    }
  }

  private streamMessage(message: ClientMessage): void {
    const result = this.incoming.receive(message, this.now());
    for (const ack of result.ack) this.sendFrame(encodeClientMessage(ack));
    for (const delivered of result.deliver) this.deliver(delivered);
  }

  private deliver(message: ClientMessage): void {
    switch (message.payloadType) {
      case PayloadType.Output:
        this.counters.bytesIn += message.payload.length;
        this.counters.messagesIn++;
        for (const listener of this.dataListeners) listener(message.payload);
        return;
      case PayloadType.HandshakeRequest:
        return this.answerHandshakeRequest(message.payload);
      case PayloadType.HandshakeComplete:
        return this.handshakeCompleted(message.payload);
      default:
        return;
    }
  }

  /** Answers in every case; a refusal (not Port, KMS) ends the channel with the user-facing error. */
  private answerHandshakeRequest(payload: Uint8Array): void {
    const request = parseHandshakeRequest(payload);
    const answer = answerHandshake(request, this.clientVersion);
    if (answer.portProperties !== undefined) this.port = { agentVersion: request.agentVersion, properties: answer.portProperties };
    this.sender.pushControl(PayloadType.HandshakeResponse, answer.response);
    if (answer.refusal === undefined) return;
    void this.callTerminate();
    this.end(answer.refusal.message, answer.refusal);
  }

  private handshakeCompleted(payload: Uint8Array): void {
    if (this.handshakeDone) return;
    const complete = parseHandshakeComplete(payload);
    if (complete.customerMessage !== "") this.logger.info(complete.customerMessage, { sessionId: this.sessionId });
    this.handshakeDone = true;
    clearTimeout(this.handshakeTimer);
    this.setState("up");
    this.readyDeferred.resolve();
    this.sender.handshakeComplete();
  }

  private serviceClosed(message: ClientMessage): void {
    this.channelClosed = parseChannelClosed(message.payload);
    this.end(afterSocketClose({ code: 1000, reason: "" }, this.channelClosed).why);
  }

  // ——— outgoing ———

  /** Writes only into an open socket; a closing one is covered by the resend on reconnect. */
  private sendFrame(frame: Uint8Array): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(frame);
  }
}

/** "400 ms", "20 s" or "5 min" for messages. */
function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function asCredproxyError(err: unknown, what: string): CredproxyError {
  if (err instanceof CredproxyError) return err;
  return ssmError(SsmErrorCode.Setting, `${what}: ${messageOf(err)}`, { cause: err });
}
