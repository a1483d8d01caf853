/**
 * One client of `credproxy agent --mode socks`: no TUN, no addresses, no NAT. HELLO offers the
 * streams capability (addresses 0.0.0.0: there is no tunnel pair) → HELLO_ACK within 10 s,
 * which must accept it (a TUN client is told to use `tunnel socks` or an agent in tun mode) →
 * streams: every OPEN is resolved, checked against --allow-cidr and dialled here
 * (stream-dialer.ts), and its bytes flow with per-stream credit (stream-mux.ts). PINGs are
 * answered; we PING every 15 s; 60 s without a byte from the client ends the session.
 *
 * Stream frames go out through the backlog writer as long as its backlog is under 32 KiB; above
 * that the mux waits for the connection's drain, so nothing is dropped and no megabytes queue
 * in front of the SSM agent (ssm-tunnel.md §9).
 *
 * With a client that accepts the in-flight bound (it sends RX_REPORT for every byte it got),
 * DATA toward it is also paced: it goes only while the bytes on the way (sent − reported) are
 * under the bound's target (in-flight-bound.ts), and a held frame goes on the next report. The
 * SSM agent's hidden buffer then holds about one round trip of the bulk stream, not its whole
 * 256 KiB window, so an interactive stream's reply waits behind little (docs/tunnel.md,
 * "Streams and the in-flight bound"). Control frames are never held.
 */
import { silentLogger, type Logger } from "../log.ts";
import type { Cidr } from "../net/cidr.ts";
import {
  CAPABILITY_IN_FLIGHT_BOUND,
  CAPABILITY_STREAMS,
  CloseReason,
  encodeClose,
  encodeHello,
  encodePing,
  encodePong,
  FrameDecoder,
  FramingError,
  HELLO_TIMEOUT_MS,
  negotiate,
  PING_INTERVAL_MS,
  PROTOCOL_VERSION,
  type Frame,
  type HelloAckFrame,
} from "../tunnel/framing.ts";
import { StreamMux, type StreamMuxStats } from "../tunnel/streams/stream-mux.ts";
import { systemClock, type TunnelClock } from "../tunnel/tunnel-clock.ts";
import { VERSION } from "../version.ts";
import { DEFAULT_AGENT_MTU, SILENCE_TIMEOUT_MS, type AgentConnection, type AgentSessionEnd } from "./agent-session.ts";
import { BacklogWriter } from "./backlog-writer.ts";
import { InFlightBound, type InFlightBoundOptions, type InFlightBoundStats } from "./in-flight-bound.ts";
import { streamDialer, type StreamDialer } from "./stream-dialer.ts";

/** Above this backlog toward the SSM agent, stream frames wait for the connection's drain. */
export const STREAM_BACKLOG_BYTES = 32 * 1024;
const CLOSE_FLUSH_MS = 2000;

export interface StreamAgentSessionOptions {
  readonly connection: AgentConnection;
  readonly allowCidrs?: readonly Cidr[] | undefined;
  /** Dials a stream; by default resolves, checks --allow-cidr and connects over TCP. */
  readonly dial?: StreamDialer;
  readonly clock?: TunnelClock;
  readonly logger?: Logger;
  readonly helloAckTimeoutMs?: number;
  readonly pingIntervalMs?: number;
  readonly silenceTimeoutMs?: number;
  readonly maxStreams?: number;
  /** Pace DATA by the client's RX_REPORTs (default true; false neither offers nor applies it). */
  readonly inFlightBound?: boolean | InFlightBoundOptions;
}

export interface StreamAgentSessionStats {
  readonly state: "hello_sent" | "up" | "ended";
  readonly mode: "socks";
  readonly hostname: string | undefined;
  readonly rttMs: number | undefined;
  readonly streams: StreamMuxStats | undefined;
  /** The in-flight bound, when the client reports what it receives. */
  readonly inFlightBound: InFlightBoundStats | undefined;
}

export class StreamAgentSession {
  private state: StreamAgentSessionStats["state"] = "hello_sent";
  private readonly clock: TunnelClock;
  private readonly logger: Logger;
  private readonly writer: BacklogWriter;
  private readonly decoder = new FrameDecoder({ from: "client" });
  private readonly endDeferred = Promise.withResolvers<AgentSessionEnd>();
  private mux: StreamMux | undefined;
  private ack: HelloAckFrame | undefined;
  private lastHeardAt: number;
  private nextPingId = 1;
  private rttMs: number | undefined;
  private cancelTimer: () => void = () => undefined;
  private cancelFlush: () => void = () => undefined;
  private endingConnection = false;
  /** Bytes of every frame written toward the client, and how many of them went before the bound began. */
  private bytesWritten = 0;
  private boundOffset = 0;
  /** Set at HELLO_ACK when the client accepted the in-flight bound. */
  private bound: InFlightBound | undefined;

  readonly ended: Promise<AgentSessionEnd>;

  constructor(private readonly options: StreamAgentSessionOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.writer = new BacklogWriter(options.connection);
    this.lastHeardAt = this.clock.now();
    this.ended = this.endDeferred.promise;
  }

  start(): void {
    this.write(
      encodeHello({
        version: PROTOCOL_VERSION,
        capabilities: this.offered(),
        mtu: DEFAULT_AGENT_MTU,
        clientAddress: "0.0.0.0",
        agentAddress: "0.0.0.0",
        sessionNonce: crypto.getRandomValues(new Uint8Array(16)),
        agentVersion: VERSION,
      }),
    );
    const ms = this.options.helloAckTimeoutMs ?? HELLO_TIMEOUT_MS;
    this.cancelTimer = this.clock.setTimer(() => {
      if (this.state === "hello_sent") this.finish(`no HELLO_ACK within ${ms / 1000} s`, CloseReason.Timeout, "no HELLO_ACK");
    }, ms);
  }

  receive(bytes: Uint8Array): void {
    if (this.state === "ended") return;
    this.lastHeardAt = this.clock.now();
    try {
      for (const frame of this.decoder.push(bytes)) {
        if (this.isEnded()) return;
        this.frame(frame);
      }
    } catch (error) {
      const framing = error instanceof FramingError ? error : new FramingError("bad_body", String(error));
      this.finish(`framing error: ${framing.message}`, framing.closeReason, framing.message);
    }
  }

  drained(): void {
    this.writer.flush();
    if (this.endingConnection) {
      if (this.writer.backlogBytes === 0) this.endConnection();
      return;
    }
    this.mux?.writable();
  }

  connectionClosed(): void {
    this.endingConnection = true;
    this.finish("the SSM agent closed the connection");
  }

  close(reason = "the agent is shutting down"): Promise<AgentSessionEnd> {
    this.finish(reason, CloseReason.Normal, reason);
    return this.ended;
  }

  stats(): StreamAgentSessionStats {
    return { state: this.state, mode: "socks", hostname: this.ack?.hostname, rttMs: this.rttMs, streams: this.mux?.stats(), inFlightBound: this.bound?.stats(this.clock.now()) };
  }

  private isEnded(): boolean {
    return this.state === "ended";
  }

  private frame(frame: Frame): void {
    switch (frame.type) {
      case "hello_ack":
        return this.helloAck(frame);
      case "ping":
        return this.writeControl(encodePong(frame));
      case "pong":
        this.rttMs = Math.max(0, this.clock.now() - frame.sentAtMicros / 1000);
        return;
      case "close":
        return this.finish(`the client closed the session: ${frame.text === "" ? `reason ${frame.reason}` : frame.text}`);
      case "rx_report":
        return this.rxReport(frame.receivedBytes);
      case "hello":
      case "packet":
      case "stripe_joined":
      case "stripes_live":
      case "bound_stats":
        // TUN-mode frames have nowhere to go here; such a client was refused at HELLO_ACK.
        return;
      default:
        if (this.mux === undefined) throw new FramingError("unexpected_frame", `${frame.type.toUpperCase()} before the streams capability was agreed`);
        return this.mux.receive(frame);
    }
  }

  private helloAck(ack: HelloAckFrame): void {
    this.cancelTimer();
    const negotiated = negotiate(ack.version, ack.capabilities, "client", PROTOCOL_VERSION, this.offered());
    this.ack = ack;
    if ((negotiated.capabilities & CAPABILITY_STREAMS) === 0) {
      const text = "this agent runs in socks mode (no TUN): use `credproxy tunnel socks`, or run the agent without --mode socks for `tunnel up`";
      return this.finish("a TUN client reached an agent in socks mode", CloseReason.NotAllowed, text);
    }
    if ((negotiated.capabilities & CAPABILITY_IN_FLIGHT_BOUND) !== 0) {
      const bound = this.options.inFlightBound;
      this.bound = new InFlightBound(typeof bound === "object" ? bound : {});
      // The client counts from our HELLO on; the bound counts from here.
      this.boundOffset = this.bytesWritten;
    }
    const dial = this.options.dial ?? streamDialer({ allowCidrs: this.options.allowCidrs, logger: this.logger });
    this.mux = new StreamMux({
      role: "agent",
      sink: { write: (frame) => this.writeStreamFrame(frame) },
      pace: (bytes) => this.bound?.mayPace(bytes, this.clock.now()) ?? true,
      onOpen: dial,
      ...(this.options.maxStreams === undefined ? {} : { maxStreams: this.options.maxStreams }),
    });
    this.state = "up";
    this.logger.info("client session up", { mode: "socks", client: ack.hostname, clientVersion: ack.clientVersion });
    this.schedulePing();
  }

  private writeStreamFrame(frame: Uint8Array): boolean {
    if (this.writer.failed || this.writer.backlogBytes > STREAM_BACKLOG_BYTES) return false;
    this.write(frame);
    return true;
  }

  /** Every frame toward the client goes here, so the bound sees every byte the client will count. */
  private write(frame: Uint8Array): void {
    this.writer.writeControl(frame);
    this.bytesWritten += frame.length;
    this.bound?.sent(frame.length, this.clock.now());
  }

  /** Capability bits our HELLO offers (and HELLO_ACK must accept streams of). */
  private offered(): number {
    return CAPABILITY_STREAMS | (this.options.inFlightBound === false ? 0 : CAPABILITY_IN_FLIGHT_BOUND);
  }

  /** The client's RX_REPORT: room may have freed for held DATA. */
  private rxReport(receivedBytes: number): void {
    if (this.bound === undefined) return;
    this.bound.report(receivedBytes - this.boundOffset, this.clock.now());
    this.mux?.writable();
  }

  private writeControl(frame: Uint8Array): void {
    this.write(frame);
    if (this.writer.failed) this.connectionClosed();
    else if (this.writer.stuck) this.finish("the SSM agent stopped reading the connection");
  }

  private schedulePing(): void {
    const interval = this.options.pingIntervalMs ?? PING_INTERVAL_MS;
    this.cancelTimer = this.clock.setTimer(() => {
      if (this.state !== "up") return;
      const silentMs = this.clock.now() - this.lastHeardAt;
      if (silentMs >= (this.options.silenceTimeoutMs ?? SILENCE_TIMEOUT_MS)) {
        return this.finish(`nothing from the client for ${Math.round(silentMs / 1000)} s`, CloseReason.Timeout, "no PONG");
      }
      this.writeControl(encodePing(this.nextPingId++, Math.round(this.clock.now() * 1000)));
      this.schedulePing();
    }, interval);
  }

  private finish(reason: string, closeReason?: CloseReason, closeText?: string): void {
    if (this.state === "ended") return;
    const wasUp = this.state === "up";
    this.state = "ended";
    this.cancelTimer();
    const streams = this.mux?.stats();
    this.mux?.endAll(reason);
    if (closeReason !== undefined && !this.endingConnection) this.write(encodeClose(closeReason, closeText ?? reason));
    this.endingConnection = true;
    if (this.writer.backlogBytes === 0 || this.writer.failed) this.endConnection();
    else this.cancelFlush = this.clock.setTimer(() => this.options.connection.destroy(), CLOSE_FLUSH_MS);
    this.logger[wasUp ? "info" : "warn"]("client session ended", { mode: "socks", reason, client: this.ack?.hostname, streamsOpened: streams?.opened ?? 0 });
    this.endDeferred.resolve({ reason });
  }

  private endConnection(): void {
    this.cancelFlush();
    this.options.connection.end();
  }
}
