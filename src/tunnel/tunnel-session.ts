/**
 * The client side of a tunnel: Session Manager data channels carrying the tunnel framing,
 * and one TUN device (ssm-tunnel.md §4, §8, §9).
 *
 * One session: open a data channel → after its handshake, wait for the agent's HELLO (10 s,
 * else the session is restarted) → open the TUN with HELLO's addresses (or keep the one open
 * when they are unchanged) and a route per CIDR → HELLO_ACK → relay. TUN packets are framed one
 * per PACKET and written whole; a refused write (the channel's in-flight bound: the drop-tail
 * queue) drops that packet and counts it, so nothing that has a sequence number is ever dropped.
 * Only packets to a routed CIDR or the agent's address are sent. A PING goes out as soon as the
 * session is up and then every 15 s; its PONG gives the RTT.
 *
 * A session ends on channel_closed, a refused resume, 60 s without a PONG, a CLOSE from the
 * agent or a framing error; a new one starts after a backoff of 1 s doubling to 30 s, while the
 * TUN and its routes stay. Before the first session is up, a few failed starts end the tunnel
 * instead, with the last error, so `tunnel up` reports what is wrong.
 *
 * With `sessions` N > 1 there are N such sessions, each in its slot (stripe-slot.ts) with its
 * own restarts, sharing the TUN. Against an agent that offers the stripes capability the client
 * accepts it and sends HELLO_ACK at once with its stripe index; the agent puts every session
 * with our client id on one TUN and address pair and says which in STRIPE_JOINED, and only then
 * is the TUN opened (or kept). Each packet goes on the session its flow hashes to among the
 * live ones (flow-hash.ts), and STRIPES_LIVE tells the agent which are live whenever that
 * changes, so it answers on the same session. An agent without stripes gets one session.
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
  CAPABILITY_STRIPES,
  CAPABILITY_IPV6,
  type StripeJoinedFrame,
  CAPABILITY_IN_FLIGHT_BOUND,
  encodeClose,
  encodeHelloAck,
  encodeStripesLive,
  encodePacket,
  encodePing,
  encodePong,
  FrameDecoder,
  FramingError,
  HELLO_TIMEOUT_MS,
  negotiate,
  PING_INTERVAL_MS,
  PROTOCOL_VERSION,
  NO_CAPABILITIES,
  type Frame,
  type HelloFrame,
} from "./framing.ts";
import { describeIpv6, helloIpv6, IPV6_HINT, routedCidrs, sentCidrs, type Ipv6State } from "./ipv6-state.ts";
import { isIpv6Pair } from "./ipv6-offer.ts";
import { packetFilter } from "./packet-filter.ts";
import { newSlot, sessionForPacket, slotBoundDrops, slotLive, slotState, slotStatus, type Session, type StripeSlot } from "./stripe-slot.ts";
import type { TunDevice, TunOptions } from "../net/tun-device.ts";
import { systemClock, type TunnelClock } from "./tunnel-clock.ts";
import { MAX_SESSIONS } from "./tunnel-schema.ts";
import { scheduleRxReport, writeRxReport } from "./rx-report.ts";
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
  /** Failed starts before the first session is up that end the tunnel (default 3 per session). */
  readonly startAttempts?: number;
  /** Striped sessions to keep open, 1 to MAX_SESSIONS (default 1). */
  readonly sessions?: number;
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
  /** `fd63:…::3 -> fd63:…::2`, or why IPv6 is not carried (ipv6-state.ts). */
  readonly ipv6: Ipv6State;
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
  tunnel.startAll();
  return tunnel;
}

interface OpenTun {
  readonly device: TunDevice;
  readonly key: string;
  readonly up: Omit<TunnelUp, "sessionId">;
}

/** The addresses of the client's TUN: the IPv4 pair, and the IPv6 pair when the agent gave one. */
interface TunPair {
  readonly clientAddress: string;
  readonly agentAddress: string;
  readonly ipv6: Ipv6State;
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
  private readonly slots: StripeSlot[];
  /** The slots that carry packets now, by index; recomputed when a session or channel changes. */
  private live: StripeSlot[] = [];
  private liveMask = 0;
  private tun: OpenTun | undefined;
  /** TUN (re)opens one after another, so two sessions coming up at once share one device. */
  private tunQueue: Promise<void> = Promise.resolve();
  private everUp = false;
  private warnedIpv6 = false;
  private failedStarts = 0;
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
    const count = options.sessions ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > MAX_SESSIONS) throw new CredproxyError(ErrorCode.ConfigInvalid, `tunnel sessions: ${count} is not a whole number from 1 to ${MAX_SESSIONS}`);
    this.slots = Array.from({ length: count }, (_, index) => newSlot(index));
    this.ready = this.readyDeferred.promise;
    this.closed = this.closedDeferred.promise;
    this.ready.catch(() => undefined);
  }

  startAll(): void {
    for (const slot of this.slots) this.startSession(slot);
  }

  // ——— sessions ———

  private startSession(slot: StripeSlot): void {
    slot.cancelRestart = undefined;
    if (this.stopping) return;
    slot.sessionsStarted++;
    let channel: DataChannel;
    try {
      channel = this.options.openChannel();
    } catch (error) {
      return this.failTunnel(asError(error, "could not open a data channel"));
    }
    const session: Session = {
      slot,
      channel,
      decoder: new FrameDecoder({ from: "agent" }),
      up: false,
      ended: false,
      striped: false,
      mtu: this.options.mtu,
      agentVersion: "",
      ipv6: { unavailable: "no HELLO yet" },
      accepts: () => false,
      lastPongAt: this.clock.now(),
      nextPingId: 1,
      cancelHello: () => undefined,
      cancelPing: () => undefined,
      reports: false,
      receivedBytes: 0,
      reportedBytes: 0,
      cancelReport: undefined,
    };
    slot.session = session;
    channel.onData((bytes) => this.receive(session, bytes));
    channel.onState(() => this.liveChanged());
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

  private helloTimedOut(session: Session, ms: number, frame = "HELLO"): void {
    if (session.ended || session.up) return;
    session.channel.write(encodeClose(CloseReason.Timeout, `no ${frame}`));
    this.endSession(
      session,
      new CredproxyError(ErrorCode.TunnelProtocol, `no ${frame} from the agent within ${Math.round(ms / 1000)} s`, {
        hint: "check that `credproxy agent` runs on the instance and listens on the agent port (--agent-port, default 7860)",
      }),
    );
  }

  /** Ends one session; its slot goes on with a new one after a backoff (or the tunnel ends, before its first). */
  private endSession(session: Session, error: CredproxyError, fatal = false): void {
    if (session.ended) return;
    const slot = session.slot;
    session.ended = true;
    session.up = false;
    session.cancelHello();
    session.cancelPing();
    session.cancelReport?.();
    slot.bound.pastDrops += slot.bound.latest?.drops ?? 0;
    slot.bound.latest = undefined;
    if (slot.session === session) {
      slot.session = undefined;
      slot.upSince = undefined;
    }
    this.liveChanged();
    void session.channel.close().then(() => {
      const stats = session.channel.stats();
      slot.past.resends += stats.resends;
      slot.past.reconnects += stats.reconnects;
    });
    if (this.stopping || slot.unsupported) return;
    this.lastError = slot.lastError = error.message;
    if (!this.everUp) {
      this.failedStarts++;
      const allowed = (this.options.startAttempts ?? DEFAULT_START_ATTEMPTS) * this.slots.length;
      if (fatal || this.failedStarts >= allowed) return this.failTunnel(error);
    }
    const backoff = this.options.backoff ?? RESTART_BACKOFF;
    const delay = Math.min(backoff.maxDelayMs, backoff.firstDelayMs * 2 ** slot.restartAttempt++);
    this.logger.warn("tunnel session ended; starting a new one", { error: error.message, delayMs: delay, ...this.stripeField(slot) });
    slot.restarts++;
    slot.cancelRestart = this.clock.setTimer(() => this.startSession(slot), delay);
  }

  private stripeField(slot: StripeSlot): Record<string, string> {
    return this.slots.length > 1 ? { stripe: `${slot.index}/${this.slots.length}` } : {};
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
    if (session.reports && !session.ended) this.maybeReport(session);
  }

  private maybeReport(session: Session): void {
    scheduleRxReport(session, this.clock, () => this.sendReport(session));
  }

  private sendReport(session: Session): void {
    if (writeRxReport(session, (frame) => !session.ended && session.channel.write(frame))) session.slot.bound.reportsSent++;
  }

  private frame(session: Session, frame: Frame): void {
    switch (frame.type) {
      case "hello":
        return void this.hello(session, frame);
      case "stripe_joined":
        if (session.striped && !session.up) void this.sessionUp(session, frame, session.mtu);
        return;
      case "packet":
        return this.toTun(session, frame.packet);
      case "ping":
        session.channel.write(encodePong(frame));
        return;
      case "pong":
        session.lastPongAt = this.clock.now();
        this.rttMs = session.slot.rttMs = Math.max(0, this.clock.now() - frame.sentAtMicros / 1000);
        return;
      case "close": {
        const refused = frame.reason === CloseReason.NotAllowed || frame.reason === CloseReason.VersionUnsupported;
        const text = frame.text === "" ? `reason ${frame.reason}` : frame.text;
        return this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, `the agent closed the tunnel: ${text}`), refused);
      }
      case "bound_stats":
        if (session.reports) session.slot.bound.latest = frame;
        return;
      case "hello_ack":
      case "stripes_live":
      case "rx_report":
        return;
    }
  }

  private async hello(session: Session, hello: HelloFrame): Promise<void> {
    session.cancelHello();
    const striping = this.slots.length > 1;
    let negotiated;
    try {
      negotiated = negotiate(hello.version, hello.capabilities, "agent", PROTOCOL_VERSION, (striping ? CAPABILITY_STRIPES : NO_CAPABILITIES) | CAPABILITY_IN_FLIGHT_BOUND | CAPABILITY_IPV6);
    } catch (error) {
      return this.endSession(session, asError(error, "HELLO"), true);
    }
    // An agent in socks mode has no TUN and sends no address pair (stream-agent-session.ts).
    if (hello.clientAddress === "0.0.0.0") {
      const error = new CredproxyError(ErrorCode.TunnelProtocol, "the agent on the instance runs in socks mode (no TUN): it carries `credproxy tunnel socks` streams, not packets", {
        hint: "use credproxy tunnel socks here, or run the agent on the instance without --mode socks (as root) for tunnel up",
      });
      return this.endSession(session, error, true);
    }
    session.striped = (negotiated.capabilities & CAPABILITY_STRIPES) !== 0;
    session.reports = (negotiated.capabilities & CAPABILITY_IN_FLIGHT_BOUND) !== 0;
    session.mtu = Math.min(this.options.mtu, hello.mtu);
    session.agentVersion = hello.agentVersion;
    session.ipv6 = helloIpv6(hello, negotiated.capabilities);
    if (striping && !session.striped && session.slot.index > 0) return this.stripesUnsupported(session, hello);
    if (session.striped) {
      // The agent answers STRIPE_JOINED with the pair every session of ours shares.
      if (!this.sendHelloAck(session, negotiated)) return;
      const ms = this.options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
      session.cancelHello = this.clock.setTimer(() => this.helloTimedOut(session, ms, "STRIPE_JOINED"), ms);
      return;
    }
    const pair = { clientAddress: hello.clientAddress, agentAddress: hello.agentAddress, ipv6: session.ipv6 };
    if (!(await this.openTunFor(session, pair, session.mtu))) return;
    if (!this.sendHelloAck(session, negotiated)) return;
    this.markUp(session, pair);
  }

  /** A striped session's STRIPE_JOINED: the TUN with the shared pair, then up. */
  private async sessionUp(session: Session, joined: StripeJoinedFrame, mtu: number): Promise<void> {
    session.cancelHello();
    // The pair the agent gave with HELLO may be another client's: STRIPE_JOINED's is ours.
    if (isIpv6Pair(session.ipv6)) session.ipv6 = joined.ipv6 ?? { unavailable: "the agent gave this session no IPv6 pair" };
    const pair = { clientAddress: joined.clientAddress, agentAddress: joined.agentAddress, ipv6: session.ipv6 };
    if (await this.openTunFor(session, pair, mtu)) this.markUp(session, pair);
  }

  private sendHelloAck(session: Session, negotiated: { version: { major: number; minor: number }; capabilities: number }): boolean {
    const ack = encodeHelloAck({
      version: negotiated.version,
      capabilities: negotiated.capabilities,
      clientId: this.clientId,
      stripeIndex: session.striped ? session.slot.index : 0,
      stripeCount: session.striped ? this.slots.length : 1,
      hostname: (this.options.hostname ?? hostname()).slice(0, 255),
      clientVersion: VERSION,
      cidrs: this.cidrs.map((c) => c.text),
    });
    if (session.channel.write(ack)) return true;
    this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, "the data channel refused HELLO_ACK"));
    return false;
  }

  /** An agent without stripes would give this session a TUN and pair of its own: it stays closed. */
  private stripesUnsupported(session: Session, hello: HelloFrame): void {
    session.slot.unsupported = true;
    session.slot.lastError = `the agent (credproxy ${hello.agentVersion}, tunnel protocol ${hello.version.major}.${hello.version.minor}) does not support several sessions per tunnel`;
    if (session.slot.index === 1) this.logger.warn("the agent does not support --sessions; using one session", { agentVersion: hello.agentVersion, hint: "upgrade credproxy on the instance" });
    session.channel.write(encodeClose(CloseReason.Normal, "stripes not supported"));
    this.endSession(session, new CredproxyError(ErrorCode.TunnelProtocol, session.slot.lastError));
  }

  /** Opens or keeps the TUN for `pair`; false (and the tunnel failed or the session gone) when it cannot be used. */
  private async openTunFor(session: Session, pair: TunPair, mtu: number): Promise<boolean> {
    try {
      await this.ensureTun(pair, mtu);
    } catch (error) {
      // A TUN that cannot be opened (no privilege, a route already there) will not open later either.
      session.channel.write(encodeClose(CloseReason.InternalError, "the client could not open its TUN device"));
      this.failTunnel(asError(error, "could not open the TUN device"));
      return false;
    }
    return !session.ended && session.slot.session === session && this.tun !== undefined;
  }

  private markUp(session: Session, pair: TunPair): void {
    const slot = session.slot;
    session.accepts = packetFilter(sentCidrs(this.cidrs, pair.ipv6), pair.agentAddress);
    session.up = true;
    session.lastPongAt = this.clock.now();
    slot.upSince = this.clock.now();
    this.everUp = true;
    slot.restartAttempt = 0;
    // One PING at once, so status has an RTT from the start rather than after the first interval.
    this.sendPing(session);
    this.schedulePing(session);
    this.liveChanged();
    const up = { ...this.tun!.up, sessionId: session.channel.stats().sessionId };
    this.logger.info("tunnel session up", { ...up, routes: up.routes.join(","), ipv6: describeIpv6(up.ipv6), agentVersion: session.agentVersion, ...this.stripeField(slot) });
    this.warnUnroutedIpv6(up.ipv6);
    this.options.onUp?.(up);
    this.readyDeferred.resolve(up);
  }

  /** Once per tunnel: IPv6 CIDRs asked for that the agent cannot carry are named, not black-holed. */
  private warnUnroutedIpv6(ipv6: Ipv6State): void {
    const unrouted = isIpv6Pair(ipv6) ? [] : this.cidrs.filter((c) => c.family === 6);
    if (unrouted.length === 0 || this.warnedIpv6) return;
    this.warnedIpv6 = true;
    this.logger.warn(`IPv6 not available on the instance: ${describeIpv6(ipv6)}`, { notRouted: unrouted.map((c) => c.text).join(","), hint: IPV6_HINT });
  }

  /** Keeps the open TUN when the addresses and the MTU are unchanged, else (re)opens it. */
  private ensureTun(pair: TunPair, mtu: number): Promise<void> {
    const next = this.tunQueue.then(() => this.reopenTun(pair, mtu));
    this.tunQueue = next.catch(() => undefined);
    return next;
  }

  private async reopenTun(pair: TunPair, mtu: number): Promise<void> {
    const key = `${pair.clientAddress}|${pair.agentAddress}|${describeIpv6(pair.ipv6)}|${mtu}`;
    if (this.tun?.key === key || this.stopping) return;
    const old = this.tun;
    this.tun = undefined;
    if (old !== undefined) {
      this.logger.info("the agent gave new tunnel addresses; reopening the TUN", { old: old.key, new: key });
      await old.device.close();
    }
    const routes = routedCidrs(this.cidrs, pair.ipv6).map((c) => c.text);
    const device = await this.options.openTun({
      ...(this.options.tunName !== undefined ? { name: this.options.tunName } : {}),
      mtu,
      address: pair.clientAddress,
      peer: pair.agentAddress,
      routes,
      ...(isIpv6Pair(pair.ipv6) ? { address6: pair.ipv6.clientAddress6, peer6: pair.ipv6.agentAddress6 } : {}),
    });
    if (this.stopping) {
      await device.close();
      return;
    }
    device.onPacket((packet) => this.fromTun(packet));
    device.onError((error) => this.failTunnel(asError(error, "the TUN device failed")));
    this.tun = { device, key, up: { interface: device.name, clientAddress: pair.clientAddress, agentAddress: pair.agentAddress, mtu, routes, ipv6: pair.ipv6 } };
  }

  private toTun(session: Session, packet: Uint8Array): void {
    if (!session.up || this.tun === undefined) return;
    // Counted for RX_REPORT whether or not the TUN takes it: the tunnel delivered it.
    session.receivedBytes += packet.length;
    if (this.tun.device.write(packet)) {
      this.counters.packetsReceived++;
      this.counters.bytesReceived += packet.length;
      session.slot.counters.packetsReceived++;
      session.slot.counters.bytesReceived += packet.length;
    } else this.counters.drops.tunWrite++;
  }

  // ——— towards the agent ———

  /**
   * The live set changed (a session up or ended, a WebSocket resuming or back): recompute it,
   * and tell the agent on every live striped session, so it answers each flow where we send it.
   */
  private liveChanged(): void {
    this.live = this.slots.filter(slotLive);
    const mask = this.live.reduce((m, slot) => m | (1 << slot.index), 0);
    if (mask === this.liveMask) return;
    this.liveMask = mask;
    for (const slot of this.live) if (slot.session!.striped) slot.session!.channel.write(encodeStripesLive(mask));
  }

  private fromTun(packet: Uint8Array): void {
    const drops = this.counters.drops;
    const session = this.sessionFor(packet);
    if (session === undefined) return void drops.noSession++;
    if (!session.accepts(packet)) return void drops.filtered++;
    if (packet.length > session.mtu) return void drops.oversize++;
    // One frame per packet, written whole or not at all: the channel never splits our frames.
    if (!session.channel.write(encodePacket(packet))) return void drops.queueFull++;
    this.counters.packetsSent++;
    this.counters.bytesSent += packet.length;
    session.slot.counters.packetsSent++;
    session.slot.counters.bytesSent += packet.length;
  }

  private sessionFor(packet: Uint8Array): Session | undefined {
    return sessionForPacket(this.slots, this.live, packet);
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
      this.sendPing(session);
      // Again with every PING, in case the one sent on the change found the channel full.
      if (session.striped) session.channel.write(encodeStripesLive(this.liveMask));
      this.schedulePing(session);
    }, interval);
  }

  private sendPing(session: Session): void {
    session.channel.write(encodePing(session.nextPingId++, Math.round(this.clock.now() * 1000)));
  }

  // ——— the tunnel's end ———

  close(reason = "closed by the client"): Promise<TunnelEnd> {
    if (this.ended) return this.closed;
    this.closing ??= (async () => {
      this.stopping = true;
      await Promise.all(this.slots.map((slot) => this.closeSlot(slot)));
      await this.finish({ reason });
      return this.closed;
    })();
    return this.closing;
  }

  private async closeSlot(slot: StripeSlot): Promise<void> {
    slot.cancelRestart?.();
    const session = slot.session;
    slot.session = undefined;
    if (session === undefined || session.ended) return;
    if (session.up) session.channel.write(encodeClose(CloseReason.Normal, "tunnel down"));
    session.ended = true;
    session.cancelHello();
    session.cancelPing();
    session.cancelReport?.();
    await session.channel.close();
  }

  private failTunnel(error: CredproxyError): void {
    if (this.stopping) return;
    this.stopping = true;
    this.lastError = error.message;
    for (const slot of this.slots) {
      if (slot.session !== undefined) this.endSession(slot.session, error);
      slot.cancelRestart?.();
    }
    void this.finish({ reason: error.message, error });
  }

  private async finish(end: TunnelEnd): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    for (const slot of this.slots) slot.upSince = undefined;
    await this.tunQueue;
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
    const stripes = this.slots.map((slot) => slotStatus(slot, this.ended));
    const states = this.slots.map((slot) => slotState(slot, this.ended));
    let state: TunnelState = "connecting";
    if (this.ended) state = "down";
    else if (states.includes("up")) state = "up";
    else if (states.includes("resuming")) state = "resuming";
    const first = this.slots.find((slot) => slot.session?.up) ?? this.slots[0]!;
    const upSince = stripes.map((s) => s.upSince).filter((t) => t !== undefined);
    return {
      state,
      sessionId: first.session?.channel.stats().sessionId,
      interface: this.tun?.up.interface,
      clientAddress: this.tun?.up.clientAddress,
      agentAddress: this.tun?.up.agentAddress,
      mtu: this.tun?.up.mtu,
      routes: this.cidrs.map((c) => c.text),
      ipv6: this.tun === undefined ? undefined : describeIpv6(this.tun.up.ipv6),
      startedAt: this.startedAt,
      upSince: upSince.length === 0 ? undefined : Math.min(...upSince),
      packetsSent: this.counters.packetsSent,
      bytesSent: this.counters.bytesSent,
      packetsReceived: this.counters.packetsReceived,
      bytesReceived: this.counters.bytesReceived,
      drops: { ...this.counters.drops, inFlightBound: this.slots.reduce((n, slot) => n + slotBoundDrops(slot), 0) },
      resends: stripes.reduce((n, s) => n + s.resends, 0),
      rttMs: this.rttMs,
      reconnects: stripes.reduce((n, s) => n + s.reconnects, 0),
      sessions: this.slots.reduce((n, slot) => n + slot.sessionsStarted, 0),
      lastError: this.lastError,
      stripes,
    };
  }
}

function asError(error: unknown, what: string): CredproxyError {
  if (error instanceof CredproxyError) return error;
  return new CredproxyError(ErrorCode.Platform, `${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
