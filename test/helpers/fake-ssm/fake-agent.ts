/**
 * The SSM agent's side of one session, as the fake plays it: the handshake (SessionType Port),
 * then the basic-mode Port plugin (ssm-tunnel.md §2.9): one TCP connection to the "agent port"
 * dialled after HandshakeComplete, client Output written to it raw, and a pump that reads it in
 * chunks of at most 1024 bytes with a 1 ms pause after each, as the real agent does. Sequence
 * numbers, acks (also for duplicates) and resends use the src/ssm windows with the agent's
 * message type. The session outlives WebSocket reconnects; only `terminate` ends it.
 *
 * With `type: LocalPortForwarding` in the properties, a ClientVersion ≥ 1.1.70 in the
 * HandshakeResponse and an agent version that has it, the plugin runs in mux mode instead
 * (fake-mux-port.ts): one connection per smux stream, through the same pump and pacing.
 */
import { connect, type Socket } from "node:net";
import { parseAcknowledge } from "../../../src/ssm/acknowledge.ts";
import { buildChannelClosedPayload } from "../../../src/ssm/channel-closed.ts";
import { decodeClientMessage, encodeClientMessage, type ClientMessage } from "../../../src/ssm/client-message.ts";
import { compareVersions } from "../../../src/ssm/client-version.ts";
import { buildFlagPayload, parseFlagPayload } from "../../../src/ssm/flag-payload.ts";
import { IncomingWindow } from "../../../src/ssm/incoming-window.ts";
import { isObject, jsonBytes, parseJsonObject } from "../../../src/ssm/json-payload.ts";
import { HeaderFlag, MessageType, PayloadType, SCHEMA_VERSION, STREAM_DATA_PAYLOAD_SIZE, StreamFlag } from "../../../src/ssm/message-types.ts";
import { OutgoingWindow, type OutgoingMessage } from "../../../src/ssm/outgoing-window.ts";
import type { FaultSwitches } from "./fault-switches.ts";
import { FaultyLink } from "./faulty-link.ts";
import { FakeMuxPort } from "./fake-mux-port.ts";

/** The agent runs mux for LocalPortForwarding when the client is at least this (port.go). */
const MUX_MIN_CLIENT_VERSION = "1.1.70";
/** The first agent with a mux Port plugin is newer than this (the plugin's own check). */
const MUX_AGENT_VERSION_AFTER = "3.0.196.0";

/** Where the agent's Port plugin connects: the service on the instance. */
export interface AgentTarget {
  readonly host: string;
  readonly port: number;
}

/** The WebSocket the client is currently attached through. */
export interface ClientSocket {
  send(frame: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface FakeAgentOptions {
  readonly sessionId: string;
  readonly target: AgentTarget;
  /** The document's Properties sent in the HandshakeRequest, e.g. {portNumber: "22"}. */
  readonly properties: Record<string, unknown>;
  readonly faults: FaultSwitches;
  readonly random: () => number;
  /** The pause after each socket read sent on; 1 ms as the real agent, 0 for unpaced. */
  readonly readPauseMs: number;
  readonly agentVersion: string;
  readonly handshakeTimeoutMs: number;
}

export interface AgentStats {
  /** Bytes written to the target / read from it. */
  bytesToTarget: number;
  bytesFromTarget: number;
  /** Client stream messages dropped unacked because the Port plugin had no connection yet. */
  notReadyDrops: number;
  /** Client stream messages dropped unacked while publication was paused. */
  pausedDrops: number;
  badFrames: number;
  resends: number;
  acksSent: number;
}

export type AgentState = "handshake" | "live" | "terminated";

/** Pause the TCP reader while this much target data waits for the pump. */
const READ_HIGH_WATER = 256 * 1024;
const MAX_UNACKED_BYTES = 4 * 1024 * 1024;

export class FakeAgent {
  state: AgentState = "handshake";
  /** The Output of channel_closed, once the session ended. */
  closedReason: string | undefined;
  readonly stats: AgentStats = { bytesToTarget: 0, bytesFromTarget: 0, notReadyDrops: 0, pausedDrops: 0, badFrames: 0, resends: 0, acksSent: 0 };
  readonly toClient: FaultyLink;
  readonly fromClient: FaultyLink;
  private readonly options: FakeAgentOptions;
  private readonly outgoing = new OutgoingWindow({ maxUnackedBytes: MAX_UNACKED_BYTES, messageType: MessageType.OutputStreamData });
  private readonly incoming = new IncomingWindow();
  private socket: ClientSocket | undefined;
  private everAttached = false;
  private tcp: Socket | undefined;
  /** Set in mux mode; then `tcp` stays unset. */
  mux: FakeMuxPort | undefined;
  private tcpReady = false;
  private tcpEnded = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pumping = false;
  private windowSpace: (() => void) | undefined;
  private resendTimer: ReturnType<typeof setTimeout> | undefined;
  private heldAcks: Uint8Array[] = [];
  private heldAckTimer: ReturnType<typeof setTimeout> | undefined;
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private dialTimer: ReturnType<typeof setTimeout> | undefined;
  private publicationPaused = false;
  private readonly startedAt = performance.now();

  constructor(options: FakeAgentOptions) {
    this.options = options;
    this.toClient = new FaultyLink(() => options.faults.toClient, options.random);
    this.fromClient = new FaultyLink(() => options.faults.fromClient, options.random);
    this.outgoing.pause("socket");
  }

  private get ended(): boolean {
    return this.state === "terminated";
  }

  /** The client's socket passed the open frame. The first time, the handshake starts. */
  attach(socket: ClientSocket): void {
    this.socket = socket;
    if (!this.everAttached) {
      this.everAttached = true;
      this.sendHandshakeRequest();
    }
    this.writeStream(this.outgoing.resume("socket", Date.now()));
    this.scheduleResend();
  }

  /** The socket closed or was replaced: queue, do not write, until the next attach. */
  detach(socket: ClientSocket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.outgoing.pause("socket");
    this.toClient.discard();
    this.fromClient.discard();
  }

  /** One binary frame from the client, through the fromClient faults. */
  receiveFrame(frame: Uint8Array): void {
    this.fromClient.pass(frame, (f) => this.handleFrame(f));
  }

  private handleFrame(frame: Uint8Array): void {
    if (this.state === "terminated") return;
    let message: ClientMessage;
    try {
      message = decodeClientMessage(frame);
    } catch {
      this.stats.badFrames++;
      return;
    }
    if (message.messageType === MessageType.Acknowledge) this.handleAck(message);
    else if (message.messageType === MessageType.InputStreamData) this.handleStream(message);
  }

  private handleAck(message: ClientMessage): void {
    let seq: number;
    try {
      seq = parseAcknowledge(message.payload).acknowledgedMessageSequenceNumber;
    } catch {
      this.stats.badFrames++;
      return;
    }
    if (!this.outgoing.acknowledge(seq, Date.now())) return;
    this.scheduleResend();
    this.windowSpace?.();
    this.finishIfDrained();
  }

  private handleStream(message: ClientMessage): void {
    if (this.publicationPaused) {
      this.stats.pausedDrops++;
      return;
    }
    if (this.notReadyFor(message)) {
      this.stats.notReadyDrops++;
      return;
    }
    const result = this.incoming.receive(message, Date.now());
    for (const ack of result.ack) this.sendAck(encodeClientMessage(ack));
    for (const delivered of result.deliver) this.handlePayload(delivered);
  }

  /** The agent's "not ready": the next Output while the Port plugin has no TCP connection gets no ack. */
  private notReadyFor(message: ClientMessage): boolean {
    return (
      this.state === "live" &&
      !this.tcpReady &&
      message.payloadType === PayloadType.Output &&
      message.sequenceNumber === this.incoming.expectedSequenceNumber
    );
  }

  private handlePayload(message: ClientMessage): void {
    switch (message.payloadType) {
      case PayloadType.HandshakeResponse:
        return this.handleHandshakeResponse(message.payload);
      case PayloadType.Output:
        // The real agent acks but discards Output that arrives before the handshake completes.
        if (this.state === "live" && this.target !== undefined) {
          this.stats.bytesToTarget += message.payload.length;
          this.target.write(message.payload);
        }
        return;
      case PayloadType.Flag:
        return this.handleFlag(message.payload);
      default:
        return;
    }
  }

  private handleFlag(payload: Uint8Array): void {
    let flag: number;
    try {
      flag = parseFlagPayload(payload);
    } catch {
      this.stats.badFrames++;
      return;
    }
    if (flag === StreamFlag.TerminateSession) this.terminate("the client ended the session");
    else if (flag === StreamFlag.DisconnectToPort) this.target?.end();
  }

  private sendHandshakeRequest(): void {
    const request = {
      AgentVersion: this.options.agentVersion,
      RequestedClientActions: [
        { ActionType: "SessionType", ActionParameters: { SessionType: this.options.faults.sessionType, Properties: this.options.properties } },
      ],
    };
    this.pushControl(PayloadType.HandshakeRequest, jsonBytes(request));
    this.handshakeTimer = setTimeout(() => this.terminate("the client did not answer the handshake in time; update the Session Manager plugin"), this.options.handshakeTimeoutMs);
  }

  private handleHandshakeResponse(payload: Uint8Array): void {
    if (this.state !== "handshake") return;
    clearTimeout(this.handshakeTimer);
    const failure = handshakeFailure(payload);
    if (failure !== undefined) return this.terminate(failure);
    const nanoseconds = Math.round((performance.now() - this.startedAt) * 1e6);
    this.pushControl(PayloadType.HandshakeComplete, jsonBytes({ HandshakeTimeToComplete: nanoseconds, CustomerMessage: "" }));
    this.state = "live";
    if (this.muxFor(payload)) return this.startMux();
    const delay = this.options.faults.dialDelayMs;
    if (delay > 0) this.dialTimer = setTimeout(() => this.dialTarget(), delay);
    else this.dialTarget();
  }

  /** Basic mode's one connection or mux mode's streams: where client Output goes. */
  private get target(): Pick<Socket, "write" | "pause" | "resume" | "end" | "destroy"> | Pick<FakeMuxPort, "write" | "pause" | "resume" | "end" | "destroy"> | undefined {
    return this.mux ?? this.tcp;
  }

  /** The agent's choice (port.go): LocalPortForwarding, a client ≥ 1.1.70, and an agent that has mux. */
  private muxFor(response: Uint8Array): boolean {
    if (this.options.properties["type"] !== "LocalPortForwarding") return false;
    if (compareVersions(this.options.agentVersion, MUX_AGENT_VERSION_AFTER) <= 0) return false;
    const clientVersion = parseJsonObject("handshake response", response)["ClientVersion"];
    return typeof clientVersion === "string" && compareVersions(clientVersion, MUX_MIN_CLIENT_VERSION) >= 0;
  }

  private startMux(): void {
    this.mux = new FakeMuxPort({
      target: this.options.target,
      send: (bytes) => this.takeFromTarget(bytes),
      connectError: () => this.pushControl(PayloadType.Flag, buildFlagPayload(StreamFlag.ConnectToPortError)),
    });
    this.tcpReady = true;
  }

  /** The Port plugin's one connection, dialled after HandshakeComplete. */
  private dialTarget(): void {
    if (this.ended) return;
    const tcp = connect({ host: this.options.target.host, port: this.options.target.port });
    this.tcp = tcp;
    tcp.on("connect", () => {
      this.tcpReady = true;
    });
    tcp.on("data", (chunk: Buffer) => this.takeFromTarget(chunk));
    tcp.on("end", () => this.targetEnded());
    tcp.on("error", () => this.targetEnded());
    tcp.on("close", () => this.targetEnded());
  }

  private takeFromTarget(chunk: Buffer): void {
    this.stats.bytesFromTarget += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes > READ_HIGH_WATER) this.target?.pause();
    void this.pump();
  }

  private targetEnded(): void {
    if (this.tcpEnded) return;
    this.tcpEnded = true;
    this.tcpReady = false;
    this.finishIfDrained();
  }

  /** Sends target data as Output, ≤ 1024 bytes per message, pausing `readPauseMs` after each. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.pendingBytes > 0 && !this.ended) {
        const chunk = this.takeChunk(STREAM_DATA_PAYLOAD_SIZE);
        while (!this.ended && !this.pushData(chunk)) await new Promise<void>((resolve) => (this.windowSpace = resolve));
        this.windowSpace = undefined;
        if (this.pendingBytes < READ_HIGH_WATER / 2) this.target?.resume();
        if (this.options.readPauseMs > 0) await Bun.sleep(this.options.readPauseMs);
      }
    } finally {
      this.pumping = false;
    }
    this.finishIfDrained();
  }

  private takeChunk(size: number): Uint8Array {
    const out = new Uint8Array(Math.min(size, this.pendingBytes));
    let filled = 0;
    while (filled < out.length) {
      const head = this.pending[0]!;
      const take = Math.min(head.length, out.length - filled);
      out.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(take);
    }
    this.pendingBytes -= out.length;
    return out;
  }

  private pushData(payload: Uint8Array): boolean {
    const result = this.outgoing.push(PayloadType.Output, payload, Date.now());
    if (!result.accepted) return false;
    this.writeStream(result.write);
    this.scheduleResend();
    return true;
  }

  private pushControl(payloadType: number, payload: Uint8Array): void {
    const result = this.outgoing.push(payloadType, payload, Date.now(), { evenIfFull: true });
    if (result.accepted) this.writeStream(result.write);
    this.scheduleResend();
  }

  private writeStream(messages: readonly OutgoingMessage[]): void {
    for (const { frame } of messages) this.sendFaulted(frame);
  }

  private sendFaulted(frame: Uint8Array): void {
    const socket = this.socket;
    if (socket === undefined) return;
    this.toClient.pass(frame, (f) => socket.send(f));
  }

  /** Acks go out through the faults, or are held while withholdAcksUntil lies ahead. */
  private sendAck(frame: Uint8Array): void {
    this.stats.acksSent++;
    const wait = this.options.faults.withholdAcksUntil - Date.now();
    if (wait <= 0) return this.sendFaulted(frame);
    this.heldAcks.push(frame);
    this.heldAckTimer ??= setTimeout(() => this.releaseAcks(), wait);
  }

  private releaseAcks(): void {
    this.heldAckTimer = undefined;
    const acks = this.heldAcks;
    this.heldAcks = [];
    for (const frame of acks) this.sendFaulted(frame);
  }

  /** One timer, set for the window's next due resend. */
  private scheduleResend(): void {
    clearTimeout(this.resendTimer);
    const at = this.outgoing.nextDueAt();
    if (at === undefined || this.state === "terminated") return;
    this.resendTimer = setTimeout(() => this.resendDue(), Math.max(0, at - Date.now()));
  }

  private resendDue(): void {
    const due = this.outgoing.due(Date.now());
    this.stats.resends += due.length;
    this.writeStream(due);
    this.scheduleResend();
  }

  /** The service's pause_publication: tell the client, stop sending, ignore its stream messages. */
  pausePublication(): void {
    this.publicationPaused = true;
    this.outgoing.pause("publication");
    this.sendControl(MessageType.PausePublication);
  }

  /** start_publication: tell the client, send everything unacked again. */
  startPublication(): void {
    this.publicationPaused = false;
    this.sendControl(MessageType.StartPublication);
    this.writeStream(this.outgoing.resume("publication", Date.now()));
    this.scheduleResend();
  }

  private sendControl(messageType: string, payload: Uint8Array = new Uint8Array(0)): void {
    const message: ClientMessage = {
      messageType,
      schemaVersion: SCHEMA_VERSION,
      createdDate: Date.now(),
      sequenceNumber: 0,
      flags: HeaderFlag.None,
      messageId: crypto.randomUUID(),
      payloadType: PayloadType.None,
      payload,
    };
    this.socket?.send(encodeClientMessage(message));
  }

  /** After the target closed: end the session once every Output is acked, as the agent does for SSH-style sessions. */
  private finishIfDrained(): void {
    if (!this.tcpEnded || this.pendingBytes > 0 || this.outgoing.stats().unackedMessages > 0) return;
    this.terminate("the port session ended: the target closed the connection");
  }

  /** Ends the session: channel_closed to the client, close 1000, the TCP connection dropped. */
  terminate(reason: string): void {
    if (this.state === "terminated") return;
    this.state = "terminated";
    this.closedReason = reason;
    const payload = buildChannelClosedPayload({
      messageId: crypto.randomUUID(),
      createdDate: new Date().toISOString(),
      destinationId: this.options.sessionId,
      sessionId: this.options.sessionId,
      schemaVersion: 1,
      output: reason,
    });
    this.sendControl(MessageType.ChannelClosed, payload);
    this.socket?.close(1000, "channel closed");
    this.socket = undefined;
    this.stop();
  }

  /** Releases timers and the TCP connection (also used when the fake shuts down). */
  stop(): void {
    for (const timer of [this.resendTimer, this.heldAckTimer, this.handshakeTimer, this.dialTimer]) clearTimeout(timer);
    this.toClient.discard();
    this.fromClient.discard();
    this.windowSpace?.();
    this.target?.destroy();
  }

  /** The agent's window counters, for tests. */
  windowStats(): { outgoing: ReturnType<OutgoingWindow["stats"]>; incoming: ReturnType<IncomingWindow["stats"]> } {
    return { outgoing: this.outgoing.stats(), incoming: this.incoming.stats() };
  }
}

/** Why a HandshakeResponse does not accept the Port session, or undefined when it does. */
function handshakeFailure(payload: Uint8Array): string | undefined {
  let json: Record<string, unknown>;
  try {
    json = parseJsonObject("handshake response", payload);
  } catch {
    return "the handshake response is not JSON";
  }
  const actions = Array.isArray(json["ProcessedClientActions"]) ? json["ProcessedClientActions"] : [];
  const sessionType = actions.find((action) => isObject(action) && action["ActionType"] === "SessionType");
  if (!isObject(sessionType)) return "the client did not process the SessionType action";
  if (sessionType["ActionStatus"] !== 1) return `the client refused the session: ${String(sessionType["Error"] ?? "")}`;
  return undefined;
}
