/**
 * The client side of `credproxy tunnel socks`: Session Manager data channels carrying stream
 * frames to an agent in socks mode. No TUN, no routes, nothing that needs root.
 *
 * One session at a time: open a data channel → the agent's HELLO within 10 s, which must offer
 * the streams capability (else the agent runs in tun mode or is too old, and we stop with what
 * to change) → HELLO_ACK accepting it → streams. PING every 15 s; 60 s without a PONG, a CLOSE,
 * a framing error or the channel's end ends the session and every stream on it (TCP streams
 * cannot move to another session), and a new session starts after 1 s doubling to 30 s. Before
 * the first session is up, a few failed starts end the tunnel with the last error.
 *
 * Stream frames go to the channel whole or not at all (its in-flight bound, ssm-tunnel.md §9);
 * a refused frame waits in the mux until the channel's onWritable. With an agent that offers the
 * in-flight bound, RX_REPORT tells it every byte that arrived, so it paces its DATA (rx-report.ts).
 */
import { hostname } from "node:os";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { silentLogger, type Logger } from "../../log.ts";
import type { DataChannel } from "../../ssm/data-channel-types.ts";
import { VERSION } from "../../version.ts";
import {
  CAPABILITY_IN_FLIGHT_BOUND,
  CAPABILITY_STREAMS,
  CloseReason,
  encodeClose,
  encodeHelloAck,
  encodePing,
  encodePong,
  FrameDecoder,
  FramingError,
  HELLO_TIMEOUT_MS,
  negotiate,
  PING_INTERVAL_MS,
  PROTOCOL_VERSION,
  type Frame,
  type HelloFrame,
} from "../framing.ts";
import { asError } from "../as-error.ts";
import { scheduleRxReport, writeRxReport, type RxReportState } from "../rx-report.ts";
import { systemClock, type TunnelClock } from "../tunnel-clock.ts";
import { DEFAULT_START_ATTEMPTS, PONG_TIMEOUT_MS, RESTART_BACKOFF, type TunnelEnd } from "../tunnel-session.ts";
import type { MuxStream } from "./mux-stream.ts";
import { StreamMux, type StreamMuxStats, type StreamTarget } from "./stream-mux.ts";

export interface StreamTunnelOptions {
  readonly openChannel: () => DataChannel;
  readonly clock?: TunnelClock;
  readonly logger?: Logger;
  readonly hostname?: string;
  readonly helloTimeoutMs?: number;
  readonly pingIntervalMs?: number;
  readonly pongTimeoutMs?: number;
  readonly backoff?: { readonly firstDelayMs: number; readonly maxDelayMs: number };
  readonly startAttempts?: number;
  /** The receive window per stream (default 256 KiB). */
  readonly window?: number;
}

export interface StreamTunnelUp {
  readonly sessionId: string | undefined;
  readonly agentVersion: string;
}

export interface StreamTunnelStatus {
  readonly state: "connecting" | "up" | "resuming" | "down";
  readonly mode: "socks";
  readonly sessionId: string | undefined;
  readonly startedAt: number;
  readonly upSince: number | undefined;
  /** Streams open now, and in all (this session and earlier ones). */
  readonly streams: number;
  readonly streamsOpened: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly rttMs: number | undefined;
  readonly reconnects: number;
  readonly sessions: number;
  readonly lastError: string | undefined;
}

export interface StreamTunnel {
  readonly ready: Promise<StreamTunnelUp>;
  readonly closed: Promise<TunnelEnd>;
  /** A stream to the target through the agent, or undefined while no session is up. */
  open(target: StreamTarget): MuxStream | undefined;
  status(): StreamTunnelStatus;
  close(reason?: string): Promise<TunnelEnd>;
}

interface Session extends RxReportState {
  readonly channel: DataChannel;
  readonly decoder: FrameDecoder;
  mux: StreamMux | undefined;
  ended: boolean;
  lastPongAt: number;
  nextPingId: number;
  cancelTimer: () => void;
  /** Both sides accepted the in-flight bound: RX_REPORT for every byte received (from HELLO on). */
  reports: boolean;
}

export function startStreamTunnel(options: StreamTunnelOptions): StreamTunnel {
  const tunnel = new ClientStreamTunnel(options);
  tunnel.startSession();
  return tunnel;
}

class ClientStreamTunnel implements StreamTunnel {
  private readonly clock: TunnelClock;
  private readonly logger: Logger;
  private readonly clientId = crypto.getRandomValues(new Uint8Array(16));
  private readonly readyDeferred = Promise.withResolvers<StreamTunnelUp>();
  private readonly closedDeferred = Promise.withResolvers<TunnelEnd>();
  private readonly startedAt: number;
  private session: Session | undefined;
  private everUp = false;
  private failedStarts = 0;
  private restartAttempt = 0;
  private cancelRestart: (() => void) | undefined;
  private sessionsStarted = 0;
  private upSince: number | undefined;
  private rttMs: number | undefined;
  private lastError: string | undefined;
  private stopping = false;
  private ended = false;
  /** Totals of sessions already ended. */
  private past = { opened: 0, bytesSent: 0, bytesReceived: 0, reconnects: 0 };

  readonly ready = this.readyDeferred.promise;
  readonly closed = this.closedDeferred.promise;

  constructor(private readonly options: StreamTunnelOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.startedAt = this.clock.now();
    this.ready.catch(() => undefined);
  }

  open(target: StreamTarget): MuxStream | undefined {
    const mux = this.session?.mux;
    return mux === undefined ? undefined : mux.open(target);
  }

  startSession(): void {
    this.cancelRestart = undefined;
    if (this.stopping) return;
    this.sessionsStarted++;
    let channel: DataChannel;
    try {
      channel = this.options.openChannel();
    } catch (error) {
      return this.fail(asError(error, "could not open a data channel"));
    }
    const session: Session = { channel, decoder: new FrameDecoder({ from: "agent" }), mux: undefined, ended: false, lastPongAt: this.clock.now(), nextPingId: 1, cancelTimer: () => undefined, reports: false, receivedBytes: 0, reportedBytes: 0, cancelReport: undefined };
    this.session = session;
    channel.onData((bytes) => this.receive(session, bytes));
    channel.onWritable(() => {
      // A report the channel refused (no timer armed, bytes unreported) goes now.
      if (session.reports && session.cancelReport === undefined && session.receivedBytes > session.reportedBytes) this.sendReport(session);
      session.mux?.writable();
    });
    channel.ready.then(
      () => {
        if (session.ended) return;
        const ms = this.options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
        session.cancelTimer = this.clock.setTimer(() => {
          if (session.mux !== undefined || session.ended) return;
          session.channel.write(encodeClose(CloseReason.Timeout, "no HELLO"));
          this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, `no HELLO from the agent within ${Math.round(ms / 1000)} s`, {
            hint: "check that `credproxy agent --mode socks` runs on the instance and listens on the agent port (--agent-port, default 7860)",
          }));
        }, ms);
      },
      () => undefined,
    );
    void channel.closed.then((end) => this.endSession(session, end.error ?? new CredproxyError(ErrorCode.SsmSetting, `the data channel ended: ${end.reason}`)));
  }

  private receive(session: Session, bytes: Uint8Array): void {
    if (session.ended) return;
    // Every byte counts, HELLO and partial frames too: the agent counts every byte it wrote.
    session.receivedBytes += bytes.length;
    try {
      for (const frame of session.decoder.push(bytes)) {
        if (session.ended) return;
        this.frame(session, frame);
      }
      if (session.reports && !session.ended) scheduleRxReport(session, this.clock, () => this.sendReport(session));
    } catch (error) {
      const framing = error instanceof FramingError ? error : new FramingError("bad_body", String(error));
      session.channel.write(encodeClose(framing.closeReason, framing.message));
      this.endSession(session, framing, framing.kind === "version_unsupported" || framing.kind === "bad_magic");
    }
  }

  private sendReport(session: Session): void {
    writeRxReport(session, (frame) => !session.ended && session.channel.write(frame));
  }

  private frame(session: Session, frame: Frame): void {
    switch (frame.type) {
      case "hello":
        return this.hello(session, frame);
      case "ping":
        session.channel.write(encodePong(frame));
        return;
      case "pong":
        session.lastPongAt = this.clock.now();
        this.rttMs = Math.max(0, this.clock.now() - frame.sentAtMicros / 1000);
        return;
      case "close": {
        const refused = frame.reason === CloseReason.NotAllowed || frame.reason === CloseReason.VersionUnsupported;
        const text = frame.text === "" ? `reason ${frame.reason}` : frame.text;
        return this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, `the agent closed the tunnel: ${text}`), refused);
      }
      case "hello_ack":
      case "packet":
      case "stripe_joined":
      case "stripes_live":
      case "rx_report":
      case "bound_stats":
        return;
      default:
        if (session.mux === undefined) throw new FramingError("unexpected_frame", `${frame.type.toUpperCase()} before HELLO`);
        return session.mux.receive(frame);
    }
  }

  private hello(session: Session, hello: HelloFrame): void {
    session.cancelTimer();
    const negotiated = negotiate(hello.version, hello.capabilities, "agent", PROTOCOL_VERSION, CAPABILITY_STREAMS | CAPABILITY_IN_FLIGHT_BOUND);
    if ((negotiated.capabilities & CAPABILITY_STREAMS) === 0) {
      session.channel.write(encodeClose(CloseReason.NotAllowed, "this client needs the streams capability (tunnel socks)"));
      const error = new CredproxyError(ErrorCode.TunnelProtocol, `the agent on the instance (credproxy ${hello.agentVersion}) does not offer streams: it runs in tun mode or is older than socks mode`, {
        hint: "run the agent with --mode socks on the instance (credproxy agent --mode socks), or use `credproxy tunnel up` for its tun mode",
      });
      return this.endSession(session, error, true);
    }
    const ack = encodeHelloAck({
      version: negotiated.version,
      capabilities: negotiated.capabilities,
      clientId: this.clientId,
      stripeIndex: 0,
      stripeCount: 1,
      hostname: (this.options.hostname ?? hostname()).slice(0, 255),
      clientVersion: VERSION,
      cidrs: [],
    });
    if (!session.channel.write(ack)) return this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, "the data channel refused HELLO_ACK"));
    session.reports = (negotiated.capabilities & CAPABILITY_IN_FLIGHT_BOUND) !== 0;
    session.mux = new StreamMux({
      role: "client",
      sink: { write: (frame) => !session.ended && session.channel.write(frame) },
      ...(this.options.window === undefined ? {} : { window: this.options.window }),
    });
    session.lastPongAt = this.clock.now();
    this.upSince = this.clock.now();
    this.everUp = true;
    this.restartAttempt = 0;
    this.schedulePing(session);
    const up = { sessionId: session.channel.stats().sessionId, agentVersion: hello.agentVersion };
    this.logger.info("tunnel session up", { mode: "socks", ...up });
    this.readyDeferred.resolve(up);
  }

  private schedulePing(session: Session): void {
    session.cancelTimer = this.clock.setTimer(() => {
      if (session.ended) return;
      const silentMs = this.clock.now() - session.lastPongAt;
      if (silentMs >= (this.options.pongTimeoutMs ?? PONG_TIMEOUT_MS)) {
        session.channel.write(encodeClose(CloseReason.Timeout, "no PONG"));
        return this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, `no PONG from the agent for ${Math.round(silentMs / 1000)} s`));
      }
      session.channel.write(encodePing(session.nextPingId++, Math.round(this.clock.now() * 1000)));
      this.schedulePing(session);
    }, this.options.pingIntervalMs ?? PING_INTERVAL_MS);
  }

  private endSession(session: Session, error: CredproxyError, fatal = false): void {
    if (session.ended) return;
    session.ended = true;
    session.cancelTimer();
    session.cancelReport?.();
    this.retire(session, error.message);
    if (this.session === session) {
      this.session = undefined;
      this.upSince = undefined;
    }
    void session.channel.close();
    if (this.stopping) return;
    this.lastError = error.message;
    if (!this.everUp || fatal) {
      this.failedStarts++;
      if (fatal || this.failedStarts >= (this.options.startAttempts ?? DEFAULT_START_ATTEMPTS)) return this.fail(error);
    }
    const backoff = this.options.backoff ?? RESTART_BACKOFF;
    const delay = Math.min(backoff.maxDelayMs, backoff.firstDelayMs * 2 ** this.restartAttempt++);
    this.logger.warn("tunnel session ended; its streams are gone; starting a new one", { error: error.message, delayMs: delay });
    this.cancelRestart = this.clock.setTimer(() => this.startSession(), delay);
  }

  /** The session's streams end with it; its counts go to the totals. */
  private retire(session: Session, why: string): void {
    const stats = session.mux?.stats();
    session.mux?.endAll(why);
    if (stats !== undefined) {
      this.past.opened += stats.opened;
      this.past.bytesSent += stats.bytesSent;
      this.past.bytesReceived += stats.bytesReceived;
    }
    this.past.reconnects += session.channel.stats().reconnects;
  }

  close(reason = "closed by the client"): Promise<TunnelEnd> {
    if (this.ended) return this.closed;
    this.stopping = true;
    this.cancelRestart?.();
    const session = this.session;
    this.session = undefined;
    const done = (async () => {
      if (session !== undefined && !session.ended) {
        if (session.mux !== undefined) session.channel.write(encodeClose(CloseReason.Normal, "tunnel down"));
        session.ended = true;
        session.cancelTimer();
        session.cancelReport?.();
        this.retire(session, reason);
        await session.channel.close();
      }
      this.finish({ reason });
      return this.closed;
    })();
    return done;
  }

  private fail(error: CredproxyError): void {
    if (this.stopping) return;
    this.stopping = true;
    this.lastError = error.message;
    this.cancelRestart?.();
    const session = this.session;
    if (session !== undefined) this.endSession(session, error);
    this.finish({ reason: error.message, error });
  }

  private finish(end: TunnelEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.upSince = undefined;
    this.readyDeferred.reject(end.error ?? new CredproxyError(ErrorCode.TunnelProtocol, `the tunnel ended before it was up: ${end.reason}`));
    this.closedDeferred.resolve(end);
  }

  status(): StreamTunnelStatus {
    const session = this.session;
    const channel = session?.channel.stats();
    const mux: StreamMuxStats | undefined = session?.mux?.stats();
    let state: StreamTunnelStatus["state"] = "connecting";
    if (this.ended) state = "down";
    else if (session?.mux !== undefined) state = channel?.state === "resuming" ? "resuming" : "up";
    return {
      state,
      mode: "socks",
      sessionId: channel?.sessionId,
      startedAt: this.startedAt,
      upSince: this.upSince,
      streams: mux?.streams ?? 0,
      streamsOpened: this.past.opened + (mux?.opened ?? 0),
      bytesSent: this.past.bytesSent + (mux?.bytesSent ?? 0),
      bytesReceived: this.past.bytesReceived + (mux?.bytesReceived ?? 0),
      rttMs: this.rttMs,
      reconnects: this.sessionsStarted - 1 + this.past.reconnects + (channel?.reconnects ?? 0),
      sessions: this.sessionsStarted,
      lastError: this.lastError,
    };
  }
}
