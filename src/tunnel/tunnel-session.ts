/**
 * The client side of a tunnel: Session Manager data channels carrying the tunnel framing,
 * and one TUN device (ssm-tunnel.md §4, §8, §9).
 *
 * One session: open a data channel → after its handshake, wait for the agent's HELLO (10 s,
 * else the session is restarted) → open the TUN with HELLO's addresses (or keep the one open
 * when they are unchanged) and a route per CIDR → HELLO_ACK → relay. TUN packets are framed one
 * per PACKET and written whole; a refused write (the channel's in-flight bound: the drop-tail
 * queue) drops that packet and counts it, so nothing that has a sequence number is ever dropped.
 * Only packets to a routed CIDR or the agent's address are sent. A PING goes out every 15 s and
 * its PONG gives the RTT.
 *
 * A session ends on channel_closed, a refused resume, 60 s without a PONG, a CLOSE from the
 * agent or a framing error; a new one starts after a backoff of 1 s doubling to 30 s, while the
 * TUN and its routes stay. Before the first session is up, a few failed starts end the tunnel
 * instead, with the last error, so `tunnel up` reports what is wrong.
 *
 * The channel factory, the TUN opener and the clock are injected (unit tests pass fakes).
 */
import { hostname } from "node:os";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { DataChannel } from "../ssm/data-channel-types.ts";
import { VERSION } from "../version.ts";
import {
  CloseReason,
  encodeClose,
  encodeHelloAck,
  encodePacket,
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
} from "./framing.ts";
import { packetFilter } from "./packet-filter.ts";
import type { TunDevice, TunOptions } from "./tun-device.ts";
import { systemClock, type TunnelClock } from "./tunnel-clock.ts";
import { emptyCounters, type TunnelCounters, type TunnelState, type TunnelStatus } from "./tunnel-status.ts";

export const PONG_TIMEOUT_MS = 60_000;
export const RESTART_BACKOFF = { firstDelayMs: 1000, maxDelayMs: 30_000 } as const;
export const DEFAULT_START_ATTEMPTS = 3;

export interface TunnelSessionOptions {
  /** Opens one data channel (StartSession and all); called for every new session. */
  readonly openChannel: () => DataChannel;
  readonly openTun: (options: TunOptions) => Promise<TunDevice>;
  /** The CIDRs routed through the tunnel (canonical text, checked by the caller). */
  readonly cidrs: readonly string[];
  /** The interface name to ask for (default: the TUN opener's). */
  readonly tunName?: string | undefined;
  /** Our MTU; the agent's HELLO may lower it. */
  readonly mtu: number;
  readonly clock?: TunnelClock;
  readonly logger?: Logger;
  readonly hostname?: string;
  /** 16 bytes shared by every session of this tunnel; random when absent. */
  readonly clientId?: Uint8Array;
  readonly helloTimeoutMs?: number;
  readonly pingIntervalMs?: number;
  readonly pongTimeoutMs?: number;
  readonly backoff?: { readonly firstDelayMs: number; readonly maxDelayMs: number };
  /** Failed starts before the first session is up that end the tunnel (default 3). */
  readonly startAttempts?: number;
  /** Called each time a session comes up (a new one may bring a new TUN): the DNS settings follow it. */
  readonly onUp?: ((up: TunnelUp) => void) | undefined;
}

/** What `tunnel up` prints once traffic can flow. */
export interface TunnelUp {
  readonly interface: string;
  readonly clientAddress: string;
  readonly agentAddress: string;
  readonly mtu: number;
  readonly routes: readonly string[];
  readonly sessionId: string | undefined;
}

export interface TunnelEnd {
  readonly reason: string;
  readonly error?: CredproxyError | undefined;
}

export interface Tunnel {
  /** Resolves when the first session is up; rejects when the tunnel ends before that. */
  readonly ready: Promise<TunnelUp>;
  /** Resolves once the tunnel has ended (close(), or a failure it cannot recover from). */
  readonly closed: Promise<TunnelEnd>;
  status(): TunnelStatus;
  /** CLOSE to the agent, TerminateSession, the TUN and its routes removed. Idempotent. */
  close(reason?: string): Promise<TunnelEnd>;
}

export function startTunnel(options: TunnelSessionOptions): Tunnel {
  const tunnel = new ClientTunnel(options);
  tunnel.startSession();
  return tunnel;
}

/** One data channel and what the framing knows about it. */
interface Session {
  readonly channel: DataChannel;
  readonly decoder: FrameDecoder;
  up: boolean;
  ended: boolean;
  mtu: number;
  accepts: (packet: Uint8Array) => boolean;
  lastPongAt: number;
  nextPingId: number;
  cancelHello: () => void;
  cancelPing: () => void;
}

interface OpenTun {
  readonly device: TunDevice;
  readonly key: string;
  readonly up: Omit<TunnelUp, "sessionId">;
}

class ClientTunnel implements Tunnel {
  private readonly clock: TunnelClock;
  private readonly logger: Logger;
  private readonly cidrs: readonly Cidr[];
  private readonly clientId: Uint8Array;
  private readonly readyDeferred = Promise.withResolvers<TunnelUp>();
  private readonly closedDeferred = Promise.withResolvers<TunnelEnd>();
  private readonly counters: TunnelCounters = emptyCounters();
  private readonly startedAt: number;
  private session: Session | undefined;
  private tun: OpenTun | undefined;
  private everUp = false;
  private failedStarts = 0;
  /** Consecutive sessions that ended; reset when one comes up. */
  private restartAttempt = 0;
  private cancelRestart: (() => void) | undefined;
  private sessionsStarted = 0;
  private restarts = 0;
  /** Resends and resumes of channels already ended. */
  private past = { resends: 0, reconnects: 0 };
  private upSince: number | undefined;
  private rttMs: number | undefined;
  private lastError: string | undefined;
  /** Set by close() and by a failure that ends the tunnel: no new session starts after it. */
  private stopping = false;
  private ended = false;
  private closing: Promise<TunnelEnd> | undefined;

  readonly ready: Promise<TunnelUp>;
  readonly closed: Promise<TunnelEnd>;

  constructor(private readonly options: TunnelSessionOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.startedAt = this.clock.now();
    this.clientId = options.clientId ?? crypto.getRandomValues(new Uint8Array(16));
    this.cidrs = options.cidrs.map((text) => {
      const cidr = parseCidr(text);
      if ("problem" in cidr) throw new CredproxyError(ErrorCode.ConfigInvalid, `tunnel CIDR: ${cidr.problem}`);
      return cidr;
    });
    this.ready = this.readyDeferred.promise;
    this.closed = this.closedDeferred.promise;
    this.ready.catch(() => undefined);
  }

  // ——— sessions ———

  startSession(): void {
    this.cancelRestart = undefined;
    if (this.stopping) return;
    this.sessionsStarted++;
    let channel: DataChannel;
    try {
      channel = this.options.openChannel();
    } catch (error) {
      return this.failTunnel(asError(error, "could not open a data channel"));
    }
    const session: Session = {
      channel,
      decoder: new FrameDecoder({ from: "agent" }),
      up: false,
      ended: false,
      mtu: this.options.mtu,
      accepts: () => false,
      lastPongAt: this.clock.now(),
      nextPingId: 1,
      cancelHello: () => undefined,
      cancelPing: () => undefined,
    };
    this.session = session;
    channel.onData((bytes) => this.receive(session, bytes));
    channel.ready.then(
      () => {
        if (session.ended) return;
        const ms = this.options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
        session.cancelHello = this.clock.setTimer(() => this.helloTimedOut(session, ms), ms);
      },
      () => undefined,
    );
    void channel.closed.then((end) => this.endSession(session, end.error ?? new CredproxyError(ErrorCode.SsmSetting, `the data channel ended: ${end.reason}`)));
  }

  private helloTimedOut(session: Session, ms: number): void {
    if (session.ended || session.up) return;
    session.channel.write(encodeClose(CloseReason.Timeout, "no HELLO"));
    this.endSession(
      session,
      new CredproxyError(ErrorCode.TunnelProtocol, `no HELLO from the agent within ${Math.round(ms / 1000)} s`, {
        hint: "check that `credproxy agent` runs on the instance and listens on the agent port (--agent-port, default 7860)",
      }),
    );
  }

  /** Ends one session; the tunnel goes on with a new one after a backoff (or ends, before its first). */
  private endSession(session: Session, error: CredproxyError, fatal = false): void {
    if (session.ended) return;
    session.ended = true;
    session.up = false;
    session.cancelHello();
    session.cancelPing();
    if (this.session === session) {
      this.session = undefined;
      this.upSince = undefined;
    }
    void session.channel.close().then(() => {
      const stats = session.channel.stats();
      this.past.resends += stats.resends;
      this.past.reconnects += stats.reconnects;
    });
    if (this.stopping) return;
    this.lastError = error.message;
    if (!this.everUp) {
      this.failedStarts++;
      if (fatal || this.failedStarts >= (this.options.startAttempts ?? DEFAULT_START_ATTEMPTS)) return this.failTunnel(error);
    }
    const backoff = this.options.backoff ?? RESTART_BACKOFF;
    const delay = Math.min(backoff.maxDelayMs, backoff.firstDelayMs * 2 ** this.restartAttempt++);
    this.logger.warn("tunnel session ended; starting a new one", { error: error.message, delayMs: delay });
    this.restarts++;
    this.cancelRestart = this.clock.setTimer(() => this.startSession(), delay);
  }

  // ——— from the agent ———

  private receive(session: Session, bytes: Uint8Array): void {
    if (session.ended) return;
    let frames: Frame[];
    try {
      frames = session.decoder.push(bytes);
    } catch (error) {
      const framing = error instanceof FramingError ? error : new FramingError("bad_body", String(error));
      session.channel.write(encodeClose(framing.closeReason, framing.message));
      return this.endSession(session, framing, framing.kind === "version_unsupported" || framing.kind === "bad_magic");
    }
    for (const frame of frames) {
      if (session.ended) return;
      this.frame(session, frame);
    }
  }

  private frame(session: Session, frame: Frame): void {
    switch (frame.type) {
      case "hello":
        return void this.hello(session, frame);
      case "packet":
        return this.toTun(session, frame.packet);
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
        return;
    }
  }

  private async hello(session: Session, hello: HelloFrame): Promise<void> {
    session.cancelHello();
    let negotiated;
    try {
      negotiated = negotiate(hello.version, hello.capabilities, "agent");
    } catch (error) {
      return this.endSession(session, asError(error, "HELLO"), true);
    }
    const mtu = Math.min(this.options.mtu, hello.mtu);
    try {
      await this.ensureTun(hello, mtu);
    } catch (error) {
      // A TUN that cannot be opened (no privilege, a route already there) will not open later either.
      session.channel.write(encodeClose(CloseReason.InternalError, "the client could not open its TUN device"));
      return this.failTunnel(asError(error, "could not open the TUN device"));
    }
    if (session.ended || this.session !== session) return;
    const ack = encodeHelloAck({
      version: negotiated.version,
      capabilities: negotiated.capabilities,
      clientId: this.clientId,
      stripeIndex: 0,
      stripeCount: 1,
      hostname: (this.options.hostname ?? hostname()).slice(0, 255),
      clientVersion: VERSION,
      cidrs: this.cidrs.map((c) => c.text),
    });
    if (!session.channel.write(ack)) {
      return this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, "the data channel refused HELLO_ACK"));
    }
    session.mtu = mtu;
    session.accepts = packetFilter(this.cidrs, hello.agentAddress);
    session.up = true;
    session.lastPongAt = this.clock.now();
    this.upSince = this.clock.now();
    this.everUp = true;
    this.restartAttempt = 0;
    this.schedulePing(session);
    const up = { ...this.tun!.up, sessionId: session.channel.stats().sessionId };
    this.logger.info("tunnel session up", { ...up, routes: up.routes.join(","), agentVersion: hello.agentVersion });
    this.options.onUp?.(up);
    this.readyDeferred.resolve(up);
  }

  /** Keeps the open TUN when HELLO's addresses and the MTU are unchanged, else (re)opens it. */
  private async ensureTun(hello: HelloFrame, mtu: number): Promise<void> {
    const key = `${hello.clientAddress}|${hello.agentAddress}|${mtu}`;
    if (this.tun?.key === key) return;
    const old = this.tun;
    this.tun = undefined;
    if (old !== undefined) {
      this.logger.info("the agent gave new tunnel addresses; reopening the TUN", { old: old.key, new: key });
      await old.device.close();
    }
    const routes = this.cidrs.map((c) => c.text);
    const device = await this.options.openTun({
      ...(this.options.tunName !== undefined ? { name: this.options.tunName } : {}),
      mtu,
      address: hello.clientAddress,
      peer: hello.agentAddress,
      routes,
    });
    if (this.stopping) {
      await device.close();
      return;
    }
    device.onPacket((packet) => this.fromTun(packet));
    device.onError((error) => this.failTunnel(asError(error, "the TUN device failed")));
    this.tun = { device, key, up: { interface: device.name, clientAddress: hello.clientAddress, agentAddress: hello.agentAddress, mtu, routes } };
  }

  private toTun(session: Session, packet: Uint8Array): void {
    if (!session.up || this.tun === undefined) return;
    if (this.tun.device.write(packet)) {
      this.counters.packetsReceived++;
      this.counters.bytesReceived += packet.length;
    } else this.counters.drops.tunWrite++;
  }

  // ——— towards the agent ———

  private fromTun(packet: Uint8Array): void {
    const session = this.session;
    const drops = this.counters.drops;
    if (session === undefined || !session.up) return void drops.noSession++;
    if (!session.accepts(packet)) return void drops.filtered++;
    if (packet.length > session.mtu) return void drops.oversize++;
    // One frame per packet, written whole or not at all: the channel never splits our frames.
    if (!session.channel.write(encodePacket(packet))) return void drops.queueFull++;
    this.counters.packetsSent++;
    this.counters.bytesSent += packet.length;
  }

  private schedulePing(session: Session): void {
    const interval = this.options.pingIntervalMs ?? PING_INTERVAL_MS;
    session.cancelPing = this.clock.setTimer(() => {
      if (session.ended) return;
      const silentMs = this.clock.now() - session.lastPongAt;
      const limit = this.options.pongTimeoutMs ?? PONG_TIMEOUT_MS;
      if (silentMs >= limit) {
        session.channel.write(encodeClose(CloseReason.Timeout, "no PONG"));
        return this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, `no PONG from the agent for ${Math.round(silentMs / 1000)} s`));
      }
      session.channel.write(encodePing(session.nextPingId++, Math.round(this.clock.now() * 1000)));
      this.schedulePing(session);
    }, interval);
  }

  // ——— the tunnel's end ———

  close(reason = "closed by the client"): Promise<TunnelEnd> {
    if (this.ended) return this.closed;
    this.closing ??= (async () => {
      this.stopping = true;
      this.cancelRestart?.();
      const session = this.session;
      if (session !== undefined && !session.ended) {
        if (session.up) session.channel.write(encodeClose(CloseReason.Normal, "tunnel down"));
        session.ended = true;
        session.cancelHello();
        session.cancelPing();
        await session.channel.close();
      }
      this.session = undefined;
      await this.finish({ reason });
      return this.closed;
    })();
    return this.closing;
  }

  private failTunnel(error: CredproxyError): void {
    if (this.stopping) return;
    this.stopping = true;
    this.lastError = error.message;
    const session = this.session;
    if (session !== undefined) this.endSession(session, error);
    this.cancelRestart?.();
    void this.finish({ reason: error.message, error });
  }

  private async finish(end: TunnelEnd): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.upSince = undefined;
    const tun = this.tun;
    this.tun = undefined;
    if (tun !== undefined) {
      try {
        await tun.device.close();
      } catch (error) {
        this.logger.warn("removing the TUN device failed", { error: asError(error, "close").message });
      }
    }
    this.readyDeferred.reject(end.error ?? new CredproxyError(ErrorCode.TunnelProtocol, `the tunnel ended before it was up: ${end.reason}`));
    this.closedDeferred.resolve(end);
  }

  status(): TunnelStatus {
    const session = this.session;
    const channel = session?.channel.stats();
    let state: TunnelState = "connecting";
    if (this.ended) state = "down";
    else if (session?.up) state = channel?.state === "resuming" ? "resuming" : "up";
    return {
      state,
      sessionId: channel?.sessionId,
      interface: this.tun?.up.interface,
      clientAddress: this.tun?.up.clientAddress,
      agentAddress: this.tun?.up.agentAddress,
      mtu: this.tun?.up.mtu,
      routes: this.cidrs.map((c) => c.text),
      startedAt: this.startedAt,
      upSince: this.upSince,
      packetsSent: this.counters.packetsSent,
      bytesSent: this.counters.bytesSent,
      packetsReceived: this.counters.packetsReceived,
      bytesReceived: this.counters.bytesReceived,
      drops: { ...this.counters.drops },
      resends: this.past.resends + (channel?.resends ?? 0),
      rttMs: this.rttMs,
      reconnects: this.restarts + this.past.reconnects + (channel?.reconnects ?? 0),
      sessions: this.sessionsStarted,
      lastError: this.lastError,
    };
  }
}

function asError(error: unknown, what: string): CredproxyError {
  if (error instanceof CredproxyError) return error;
  return new CredproxyError(ErrorCode.Platform, `${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
