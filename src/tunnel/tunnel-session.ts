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
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { silentLogger, type Logger } from "../log.ts";
import type { DataChannel } from "../ssm/data-channel-types.ts";
import { asError } from "./as-error.ts";
import { acceptHello, encodeClientHelloAck } from "./client-hello.ts";
import { ClientTun } from "./client-tun.ts";
import {
  CloseReason,
  type StripeJoinedFrame,
  encodeClose,
  encodePacket,
  encodePong,
  FrameDecoder,
  FramingError,
  HELLO_TIMEOUT_MS,
  type Frame,
  type HelloFrame,
  type Negotiated,
} from "./framing.ts";
import { describeIpv6, IPV6_HINT, sentCidrs, type Ipv6State } from "./ipv6-state.ts";
import { isIpv6Pair } from "./ipv6-offer.ts";
import { packetFilter } from "./packet-filter.ts";
import { schedulePing, sendPing, type Keepalive } from "./session-keepalive.ts";
import { newSlot, sessionForPacket, type Session, type StripeSlot } from "./stripe-slot.ts";
import { updateStripesLive } from "./stripes-live.ts";
import { systemClock, type TunnelClock } from "./tunnel-clock.ts";
import { MAX_SESSIONS } from "./tunnel-schema.ts";
import { scheduleRxReport, writeRxReport } from "./rx-report.ts";
import { emptyCounters, type TunnelCounters, type TunnelStatus } from "./tunnel-status.ts";
import { tunnelStatusOf } from "./tunnel-status-of.ts";
import { DEFAULT_START_ATTEMPTS, RESTART_BACKOFF, type Tunnel, type TunnelEnd, type TunnelSessionOptions, type TunnelUp, type TunPair } from "./tunnel-types.ts";

export { DEFAULT_START_ATTEMPTS, PONG_TIMEOUT_MS, RESTART_BACKOFF } from "./tunnel-types.ts";
export type { Tunnel, TunnelEnd, TunnelSessionOptions, TunnelUp } from "./tunnel-types.ts";

export function startTunnel(options: TunnelSessionOptions): Tunnel {
  const tunnel = new ClientTunnel(options);
  tunnel.startAll();
  return tunnel;
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
  private readonly tun: ClientTun;
  private readonly keepalive: Keepalive;
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
    this.tun = new ClientTun({
      options,
      logger: this.logger,
      cidrs: this.cidrs,
      stopping: () => this.stopping,
      fromTun: (packet) => this.fromTun(packet),
      failTunnel: (error) => this.failTunnel(error),
    });
    this.keepalive = {
      clock: this.clock,
      pingIntervalMs: options.pingIntervalMs,
      pongTimeoutMs: options.pongTimeoutMs,
      liveMask: () => this.liveMask,
      endSession: (session, error) => this.endSession(session, error),
    };
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
    const negotiated = acceptHello(session, hello, this.options.mtu, striping);
    if (negotiated instanceof CredproxyError) return this.endSession(session, negotiated, true);
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

  private sendHelloAck(session: Session, negotiated: Negotiated): boolean {
    const ack = encodeClientHelloAck(session, negotiated, { clientId: this.clientId, stripeCount: this.slots.length, hostname: this.options.hostname, cidrs: this.cidrs });
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
      await this.tun.ensure(pair, mtu);
    } catch (error) {
      // A TUN that cannot be opened (no privilege, a route already there) will not open later either.
      session.channel.write(encodeClose(CloseReason.InternalError, "the client could not open its TUN device"));
      this.failTunnel(asError(error, "could not open the TUN device"));
      return false;
    }
    return !session.ended && session.slot.session === session && this.tun.current !== undefined;
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
    sendPing(session, this.clock);
    schedulePing(session, this.keepalive);
    this.liveChanged();
    const up = { ...this.tun.current!.up, sessionId: session.channel.stats().sessionId };
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

  private toTun(session: Session, packet: Uint8Array): void {
    if (!session.up || this.tun.current === undefined) return;
    // Counted for RX_REPORT whether or not the TUN takes it: the tunnel delivered it.
    session.receivedBytes += packet.length;
    if (this.tun.current.device.write(packet)) {
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
    ({ live: this.live, mask: this.liveMask } = updateStripesLive(this.slots, this.liveMask));
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
    await this.tun.close();
    this.readyDeferred.reject(end.error ?? new CredproxyError(ErrorCode.TunnelProtocol, `the tunnel ended before it was up: ${end.reason}`));
    this.closedDeferred.resolve(end);
  }

  status(): TunnelStatus {
    const { slots, ended, cidrs, startedAt, counters, rttMs, lastError } = this;
    return tunnelStatusOf({ slots, ended, tun: this.tun.current, cidrs, startedAt, counters, rttMs, lastError });
  }
}
