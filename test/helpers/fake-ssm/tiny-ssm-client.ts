/**
 * The smallest Session Manager client that does the job, put together from the src/ssm modules,
 * to drive the fake in tests: StartSession, the signed upgrade, the open frame, the handshake,
 * both windows with acks and resends, and ResumeSession to the URL it returns after any close
 * that was not preceded by channel_closed. It keeps no promises about throughput or limits; it
 * shows what a real client has to wire together.
 */
import { parseAcknowledge } from "../../../src/ssm/acknowledge.ts";
import { parseChannelClosed, type ChannelClosed } from "../../../src/ssm/channel-closed.ts";
import { decodeClientMessage, encodeClientMessage, type ClientMessage } from "../../../src/ssm/client-message.ts";
import { buildFlagPayload } from "../../../src/ssm/flag-payload.ts";
import { answerHandshake, parseHandshakeRequest } from "../../../src/ssm/handshake.ts";
import { IncomingWindow } from "../../../src/ssm/incoming-window.ts";
import { MessageType, PayloadType, STREAM_DATA_PAYLOAD_SIZE, StreamFlag } from "../../../src/ssm/message-types.ts";
import { buildOpenDataChannelFrame } from "../../../src/ssm/open-data-channel.ts";
import { OutgoingWindow, type OutgoingMessage } from "../../../src/ssm/outgoing-window.ts";
import { signStreamUpgrade } from "../../../src/ssm/sign-upgrade.ts";
import { afterSocketClose } from "../../../src/ssm/socket-close.ts";
import { assertLoopback } from "../loopback.ts";
import { deferred } from "../wait.ts";
import { callSsmApi, DUMMY_CREDENTIALS, FAKE_REGION } from "./call-ssm-api.ts";
import { DEFAULT_INSTANCE_ID } from "./fake-ssm.ts";

export interface TinyClientStats {
  /** WebSocket opens, the first one included. */
  connects: number;
  resumes: number;
  badFrames: number;
  resends: number;
}

/**
 * In flight at most 64 KiB (~60 messages). With 1 MiB, a 1 MB burst made the RTO (learnt from
 * the first, fast acks) shorter than the queueing delay of the later messages: 695 of 1024
 * messages were resent spuriously with no fault at all; with 64 KiB, none.
 */
const MAX_UNACKED_BYTES = 64 * 1024;
const MAX_RESUMES = 10;

export class TinySsmClient {
  readonly sessionId: string;
  readonly clientId = crypto.randomUUID();
  /** Every StreamUrl dialled, in order. */
  readonly streamUrls: string[] = [];
  readonly stats: TinyClientStats = { connects: 0, resumes: 0, badFrames: 0, resends: 0 };
  /** Called with each Output payload, in order. */
  onData: (bytes: Uint8Array) => void = () => undefined;
  /** Called with the type of each service control message (pause/start_publication, channel_closed) after handling it. */
  onControl: (messageType: string) => void = () => undefined;
  /** Resolves at HandshakeComplete. */
  readonly ready = deferred<void>();
  /** Resolves when the session is over: with channel_closed, or undefined if resuming gave up. */
  readonly ended = deferred<ChannelClosed | undefined>();
  channelClosed: ChannelClosed | undefined;
  private readonly apiUrl: string;
  private readonly outgoing = new OutgoingWindow({ maxUnackedBytes: MAX_UNACKED_BYTES });
  private readonly incoming = new IncomingWindow();
  private ws: WebSocket | undefined;
  private queue: Uint8Array[] = [];
  private handshakeDone = false;
  private stopped = false;
  private resendTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(apiUrl: string, sessionId: string) {
    this.apiUrl = apiUrl;
    this.sessionId = sessionId;
    this.outgoing.pause("socket");
    // A refused handshake rejects `ready`; a test that never awaits it must not fail on that.
    this.ready.promise.catch(() => undefined);
  }

  /** StartSession for `target`, then the first connection. */
  static async start(apiUrl: string, target = DEFAULT_INSTANCE_ID): Promise<TinySsmClient> {
    const started = await callSsmApi(apiUrl, "StartSession", { Target: target, DocumentName: "AWS-StartSSHSession", Parameters: { portNumber: ["22"] } });
    if (started.status !== 200) throw new Error(`StartSession failed: ${started.status} ${JSON.stringify(started.body)}`);
    const client = new TinySsmClient(apiUrl, String(started.body["SessionId"]));
    await client.connect(String(started.body["StreamUrl"]), String(started.body["TokenValue"]));
    return client;
  }

  /** Queues bytes as Output messages of at most 1024 bytes; sent once the handshake is done. */
  send(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; at += STREAM_DATA_PAYLOAD_SIZE) this.queue.push(bytes.subarray(at, at + STREAM_DATA_PAYLOAD_SIZE));
    this.flush();
  }

  /** The TerminateSession flag, as the plugin sends it on Ctrl-C. */
  sendTerminateFlag(): void {
    this.pushAndWrite(PayloadType.Flag, buildFlagPayload(StreamFlag.TerminateSession), true);
  }

  /** The sending window's counters (unacked messages, resends, RTO). */
  outgoingStats(): ReturnType<OutgoingWindow["stats"]> {
    return this.outgoing.stats();
  }

  /** Stops reconnecting and closes the socket. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.resendTimer);
    this.ws?.close(1000, "client done");
  }

  private async connect(url: string, token: string): Promise<void> {
    assertLoopback(url.replace(/^ws/, "http"));
    this.streamUrls.push(url);
    const headers = await signStreamUpgrade({ url, credentials: DUMMY_CREDENTIALS, region: FAKE_REGION });
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => this.opened(ws, token);
    ws.onmessage = (event) => this.receive(new Uint8Array(event.data as ArrayBuffer));
    ws.onclose = (event) => void this.socketClosed(ws, event.code, event.reason);
  }

  private opened(ws: WebSocket, token: string): void {
    this.stats.connects++;
    ws.send(buildOpenDataChannelFrame({ tokenValue: token, clientId: this.clientId, requestId: crypto.randomUUID() }));
    this.write(this.outgoing.resume("socket", Date.now()));
    this.scheduleResend();
  }

  /** Any close not preceded by channel_closed means ResumeSession and the URL it returns. */
  private async socketClosed(ws: WebSocket, code: number, reason: string): Promise<void> {
    if (this.ws !== ws) return;
    this.ws = undefined;
    this.outgoing.pause("socket");
    const next = afterSocketClose({ code, reason }, this.channelClosed);
    if (next.action === "end" || this.stopped) return this.ended.resolve(this.channelClosed);
    if (this.stats.resumes >= MAX_RESUMES) return this.ended.resolve(undefined);
    this.stats.resumes++;
    const resumed = await callSsmApi(this.apiUrl, "ResumeSession", { SessionId: this.sessionId });
    const token = resumed.body["TokenValue"];
    if (resumed.status !== 200 || typeof token !== "string" || token === "") return this.ended.resolve(undefined);
    await this.connect(String(resumed.body["StreamUrl"]), token);
  }

  private receive(frame: Uint8Array): void {
    let message: ClientMessage;
    try {
      message = decodeClientMessage(frame);
    } catch {
      this.stats.badFrames++;
      return;
    }
    if (message.messageType === MessageType.Acknowledge) return this.acknowledged(message);
    if (message.messageType === MessageType.OutputStreamData) return this.streamMessage(message);
    this.control(message);
    this.onControl(message.messageType);
  }

  private control(message: ClientMessage): void {
    switch (message.messageType) {
      case MessageType.ChannelClosed:
        this.channelClosed = parseChannelClosed(message.payload);
        return;
      case MessageType.PausePublication:
        return this.outgoing.pause("publication");
      case MessageType.StartPublication:
        this.write(this.outgoing.resume("publication", Date.now()));
        return this.scheduleResend();
      default:
        return;
    }
  }

  private acknowledged(message: ClientMessage): void {
    if (!this.outgoing.acknowledge(parseAcknowledge(message.payload).acknowledgedMessageSequenceNumber, Date.now())) return;
    this.scheduleResend();
    this.flush();
  }

  private streamMessage(message: ClientMessage): void {
    const result = this.incoming.receive(message, Date.now());
    for (const ack of result.ack) this.sendFrame(encodeClientMessage(ack));
    for (const delivered of result.deliver) this.deliver(delivered);
  }

  private deliver(message: ClientMessage): void {
    if (message.payloadType === PayloadType.Output) return this.onData(message.payload);
    if (message.payloadType === PayloadType.HandshakeRequest) {
      const answer = answerHandshake(parseHandshakeRequest(message.payload));
      this.pushAndWrite(PayloadType.HandshakeResponse, answer.response, true);
      if (answer.refusal !== undefined) this.ready.reject(answer.refusal);
      return;
    }
    if (message.payloadType === PayloadType.HandshakeComplete) {
      this.handshakeDone = true;
      this.ready.resolve();
      this.flush();
    }
  }

  /** Moves queued data into the window while it has room; never before HandshakeComplete. */
  private flush(): void {
    while (this.handshakeDone && this.queue.length > 0) {
      if (!this.pushAndWrite(PayloadType.Output, this.queue[0]!, false)) return;
      this.queue.shift();
    }
  }

  private pushAndWrite(payloadType: number, payload: Uint8Array, evenIfFull: boolean): boolean {
    const result = this.outgoing.push(payloadType, payload, Date.now(), { evenIfFull });
    if (!result.accepted) return false;
    this.write(result.write);
    this.scheduleResend();
    return true;
  }

  private write(messages: readonly OutgoingMessage[]): void {
    for (const { frame } of messages) this.sendFrame(frame);
  }

  /** Writes only into an open socket; while it is closing the window's resume covers the loss. */
  private sendFrame(frame: Uint8Array): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  private scheduleResend(): void {
    clearTimeout(this.resendTimer);
    const at = this.outgoing.nextDueAt();
    if (at === undefined || this.stopped) return;
    this.resendTimer = setTimeout(() => {
      const due = this.outgoing.due(Date.now());
      this.stats.resends += due.length;
      this.write(due);
      this.scheduleResend();
    }, Math.max(0, at - Date.now()));
  }
}
