/**
 * One client of `credproxy agent`: the TCP connection the SSM agent's Port plugin opened for one
 * Session Manager session, carrying the tunnel framing (ssm-tunnel.md §4, §7).
 *
 * HELLO (a fresh address pair from the pool, our MTU and version, a nonce) → HELLO_ACK within
 * 10 s → a TUN device of its own (our address, the client's as its peer, so the kernel routes the
 * client's address through it) → relay: PACKETs from the client pass the anti-spoofing check and
 * are written to the TUN; packets the TUN reads for the client's address go back as PACKETs
 * through the backlog writer, which drops them rather than queue (§9). PINGs are answered with
 * PONGs, and we PING every 15 s ourselves; 60 s without a byte from the client ends the session.
 *
 * Every end (CLOSE from the client, a framing error, the connection gone, a timeout, shutdown)
 * goes through finish(): a CLOSE with the reason when the peer can still hear it, then the TUN
 * removed, then the address pair released, in that order, so an address is never handed out
 * while a device still holds it.
 *
 * The connection, the TUN opener and the clock are injected (unit tests pass fakes).
 */
import { silentLogger, type Logger } from "../log.ts";
import {
  CloseReason,
  encodeClose,
  encodePacket,
  encodePing,
  encodePong,
  FrameDecoder,
  FramingError,
  HELLO_TIMEOUT_MS,
  negotiate,
  PING_INTERVAL_MS,
  PROTOCOL_VERSION,
  CAPABILITY_STRIPES,
  CAPABILITY_IPV6,
  CAPABILITY_IN_FLIGHT_BOUND,
  encodeStripeJoined,
  type Frame,
  type HelloAckFrame,
} from "../tunnel/framing.ts";
import type { TunDevice } from "../net/tun-device.ts";
import { systemClock, type TunnelClock } from "../tunnel/tunnel-clock.ts";
import type { AddressLease } from "./address-pool.ts";
import type { AgentClient, ClientMember } from "./agent-client.ts";
import { agentClientFor } from "./agent-client-for.ts";
import { encodeAgentHello, ipv6Offer } from "./agent-hello.ts";
import { DEFAULT_AGENT_MTU, SILENCE_TIMEOUT_MS, type AgentSessionEnd, type AgentSessionOptions, type AgentSessionState, type AgentSessionStats } from "./agent-session-types.ts";
import { isIpv6Pair } from "../tunnel/ipv6-offer.ts";
import { BacklogWriter } from "./backlog-writer.ts";
import { boundStatsFrame } from "./bound-stats-frame.ts";
import { InFlightBound } from "./in-flight-bound.ts";

export { AGENT_TUN_NAME, DEFAULT_AGENT_MTU, SILENCE_TIMEOUT_MS } from "./agent-session-types.ts";
export type { AgentConnection, AgentSessionDrops, AgentSessionEnd, AgentSessionOptions, AgentSessionState, AgentSessionStats } from "./agent-session-types.ts";

/** Client packets held while the TUN is being opened (the client may send right after HELLO_ACK). */
const EARLY_PACKETS = 64;
/** How long a CLOSE may take to reach the SSM agent before the connection is cut. */
const CLOSE_FLUSH_MS = 2000;
/** BOUND_STATS goes to the client at most this often (only while its reports arrive). */
const BOUND_STATS_INTERVAL_MS = 1000;

export class AgentSession implements ClientMember {
  private state: AgentSessionState = "hello_sent";
  private readonly clock: TunnelClock;
  private readonly logger: Logger;
  private readonly writer: BacklogWriter;
  private readonly decoder = new FrameDecoder({ from: "client" });
  private readonly mtu: number;
  private readonly endDeferred = Promise.withResolvers<AgentSessionEnd>();
  /** The pair HELLO offered; given back when the session joins a client already here. */
  private lease: AddressLease | undefined;
  private client: AgentClient | undefined;
  private tun: TunDevice | undefined;
  private opening: Promise<TunDevice | undefined> | undefined;
  private early: Uint8Array[] = [];
  private ack: HelloAckFrame | undefined;
  private lastHeardAt: number;
  private nextPingId = 1;
  private rttMs: number | undefined;
  private cancelTimer: () => void = () => undefined;
  private cancelFlush: () => void = () => undefined;
  private endingConnection = false;
  /** HELLO offered an IPv6 pair (the pool has a prefix and the instance forwards IPv6). */
  private ipv6Offered = false;
  private readonly counts = { packetsFromClient: 0, bytesFromClient: 0, packetsToClient: 0, bytesToClient: 0 };
  private readonly drops = { oversize: 0, tunWrite: 0, early: 0 };
  /** Set at HELLO_ACK when the client accepted the in-flight bound. */
  private bound: InFlightBound | undefined;
  private boundStatsAt = -Infinity;
  private cancelBoundStats: (() => void) | undefined;

  /** Resolves once the session has ended and given back its TUN and addresses. */
  readonly ended: Promise<AgentSessionEnd>;

  constructor(private readonly options: AgentSessionOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.mtu = options.mtu ?? DEFAULT_AGENT_MTU;
    this.writer = new BacklogWriter(options.connection, options.backlog);
    this.lastHeardAt = this.clock.now();
    this.ended = this.endDeferred.promise;
  }

  /** Sends HELLO with a fresh address pair, or CLOSE when the pool is exhausted. */
  start(): void {
    const lease = this.options.pool.acquire();
    if (lease === undefined) {
      const { pool } = this.options;
      this.logger.warn("refused a client: every tunnel address pair is in use", { pool: pool.cidr, clients: pool.inUse() });
      return this.finish(`no free addresses in ${pool.cidr}`, CloseReason.NotAllowed, `the agent has no free tunnel addresses (pool ${pool.cidr}, ${pool.inUse()} clients); raise --pool on the instance`);
    }
    this.lease = lease;
    const ipv6 = ipv6Offer(lease, this.options.ipv6Unavailable);
    this.ipv6Offered = isIpv6Pair(ipv6);
    this.writer.writeControl(encodeAgentHello(lease, ipv6, this.offered(), this.mtu));
    const ms = this.options.helloAckTimeoutMs ?? HELLO_TIMEOUT_MS;
    this.cancelTimer = this.clock.setTimer(() => {
      if (this.state === "hello_sent") this.finish(`no HELLO_ACK within ${ms / 1000} s`, CloseReason.Timeout, "no HELLO_ACK");
    }, ms);
  }

  /** Bytes from the SSM agent's connection. */
  receive(bytes: Uint8Array): void {
    if (this.state === "ended") return;
    this.lastHeardAt = this.clock.now();
    let frames: Frame[];
    try {
      frames = this.decoder.push(bytes);
    } catch (error) {
      const framing = error instanceof FramingError ? error : new FramingError("bad_body", String(error));
      return this.finish(`framing error: ${framing.message}`, framing.closeReason, framing.message);
    }
    for (const frame of frames) {
      if (this.isEnded()) return;
      this.frame(frame);
    }
  }

  /** The connection can take more: write what waits (and finish a pending end). */
  drained(): void {
    this.writer.flush();
    if (this.endingConnection && this.writer.backlogBytes === 0) this.endConnection();
  }

  /** The SSM agent closed the connection (its session ended) or it broke. */
  connectionClosed(): void {
    this.endingConnection = true;
    this.finish("the SSM agent closed the connection");
  }

  /** Shutdown: CLOSE to the client, then everything released. */
  close(reason = "the agent is shutting down"): Promise<AgentSessionEnd> {
    this.finish(reason, CloseReason.Normal, reason);
    return this.ended;
  }

  stats(): AgentSessionStats {
    const check = this.client?.packetCheck.drops ?? { malformed: 0, spoofed: 0, notAllowed: 0 };
    const pair = this.client?.lease ?? this.lease;
    return {
      state: this.state,
      clientAddress: pair?.clientAddress,
      agentAddress: pair?.agentAddress,
      interface: this.tun?.name,
      hostname: this.ack?.hostname,
      stripe: this.ack !== undefined && this.ack.stripeCount > 1 ? `${this.ack.stripeIndex}/${this.ack.stripeCount}` : undefined,
      ...this.counts,
      drops: {
        ...check,
        ...this.drops,
        filtered: this.client?.filtered ?? 0,
        noSession: this.client?.noSession ?? 0,
        backlog: this.writer.stats().packetsDropped,
        inFlightBound: this.bound?.stats(this.clock.now()).drops ?? 0,
      },
      rttMs: this.rttMs,
      writer: this.writer.stats(),
      inFlightBound: this.bound?.stats(this.clock.now()),
    };
  }

  /** A method, so TypeScript does not narrow the state across awaits and callbacks. */
  private isEnded(): boolean {
    return this.state === "ended";
  }

  private frame(frame: Frame): void {
    switch (frame.type) {
      case "hello_ack":
        return void this.helloAck(frame);
      case "packet":
        return this.fromClient(frame.packet);
      case "ping":
        return this.writeControl(encodePong(frame));
      case "pong":
        this.rttMs = Math.max(0, this.clock.now() - frame.sentAtMicros / 1000);
        return;
      case "close": {
        const text = frame.text === "" ? `reason ${frame.reason}` : frame.text;
        return this.finish(`the client closed the session: ${text}`);
      }
      case "stripes_live":
        return this.client?.setLiveMask(frame.mask);
      case "rx_report":
        return this.rxReport(frame.receivedBytes);
      case "hello":
      case "stripe_joined":
      case "bound_stats":
        return;
    }
  }

  private async helloAck(ack: HelloAckFrame): Promise<void> {
    this.cancelTimer();
    let striped: boolean;
    let ipv6: boolean;
    try {
      const accepted = negotiate(ack.version, ack.capabilities, "client", PROTOCOL_VERSION, this.offered()).capabilities;
      striped = (accepted & CAPABILITY_STRIPES) !== 0;
      if ((accepted & CAPABILITY_IN_FLIGHT_BOUND) !== 0) this.bound = new InFlightBound(typeof this.options.inFlightBound === "object" ? this.options.inFlightBound : {});
      ipv6 = (accepted & CAPABILITY_IPV6) !== 0;
    } catch (error) {
      const framing = error instanceof FramingError ? error : new FramingError("version_unsupported", String(error));
      return this.finish(framing.message, framing.closeReason, framing.message);
    }
    this.ack = ack;
    this.state = "opening";
    const client = (this.client = this.clientFor(ack, striped, ipv6));
    client.hold(this);
    this.opening = client.open().then(
      (device) => device,
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error("cannot open a TUN device for a client", { error: message, client: ack.hostname });
        this.finish(`the TUN device failed: ${message}`, CloseReason.InternalError, "the agent could not open its TUN device");
        return undefined;
      },
    );
    const device = await this.opening;
    if (device === undefined || this.isEnded()) return;
    this.tun = device;
    if (striped) this.writer.writeControl(encodeStripeJoined({ clientAddress: client.lease.clientAddress, agentAddress: client.lease.agentAddress, ipv6: client.ipv6 }));
    this.state = "up";
    client.join(this);
    this.logger.info("client session up", {
      client: ack.hostname,
      clientVersion: ack.clientVersion,
      cidrs: ack.cidrs.join(","),
      interface: device.name,
      clientAddress: client.lease.clientAddress,
      agentAddress: client.lease.agentAddress,
      ...(client.ipv6 ? { clientAddress6: client.ipv6.clientAddress6, agentAddress6: client.ipv6.agentAddress6 } : {}),
      ...(ack.stripeCount > 1 ? { stripe: `${ack.stripeIndex}/${ack.stripeCount}`, sessionsOfClient: client.size } : {}),
    });
    for (const packet of this.early.splice(0)) this.fromClient(packet);
    this.schedulePing();
  }

  /** The client this session carries packets for (agent-client-for.ts); this session's pair goes to it or back. */
  private clientFor(ack: HelloAckFrame, striped: boolean, ipv6: boolean): AgentClient {
    const session = { lease: this.lease, mtu: this.mtu, logger: this.logger };
    this.lease = undefined;
    return agentClientFor(this.options, session, ack, striped, ipv6);
  }

  /** ClientMember: the client's TUN failed, or a newer session took this stripe. */
  evict(reason: string): void {
    this.finish(reason, CloseReason.Normal, reason);
  }

  get stripeIndex(): number {
    return this.ack?.stripeIndex ?? 0;
  }

  private fromClient(packet: Uint8Array): void {
    if (this.state === "opening") {
      if (this.early.length < EARLY_PACKETS) this.early.push(packet);
      else this.drops.early++;
      return;
    }
    if (this.state !== "up" || this.tun === undefined) return;
    if (packet.length > this.mtu) return void this.drops.oversize++;
    if (this.client!.packetCheck.check(packet) !== "ok") return;
    if (!this.tun.write(packet)) return void this.drops.tunWrite++;
    this.counts.packetsFromClient++;
    this.counts.bytesFromClient += packet.length;
  }

  /** ClientMember: a packet the client's TUN read for this session's flows. */
  toClient(packet: Uint8Array): void {
    if (this.state !== "up") return;
    if (packet.length > this.mtu) return void this.drops.oversize++;
    const now = this.clock.now();
    if (this.bound !== undefined && !this.bound.admit(packet.length, now)) return;
    if (!this.writer.writePacket(encodePacket(packet))) return this.checkWriter();
    this.bound?.sent(packet.length, now);
    this.counts.packetsToClient++;
    this.counts.bytesToClient += packet.length;
  }

  /** Capability bits our HELLO offers (and HELLO_ACK may accept). */
  private offered(): number {
    return CAPABILITY_STRIPES | (this.options.inFlightBound === false ? 0 : CAPABILITY_IN_FLIGHT_BOUND) | (this.ipv6Offered ? CAPABILITY_IPV6 : 0);
  }

  /** The client's RX_REPORT: to the bound, and now and then what the bound did back to the client. */
  private rxReport(receivedBytes: number): void {
    const bound = this.bound;
    if (bound === undefined) return;
    const now = this.clock.now();
    bound.report(receivedBytes, now);
    const wait = this.boundStatsAt + BOUND_STATS_INTERVAL_MS - now;
    // Too soon: once the second is up, so the client also learns how the last burst ended.
    if (wait > 0) this.cancelBoundStats ??= this.clock.setTimer(() => this.sendBoundStats(), wait);
    else this.sendBoundStats();
  }

  private sendBoundStats(): void {
    this.cancelBoundStats?.();
    this.cancelBoundStats = undefined;
    if (this.bound === undefined || this.state !== "up") return;
    const now = this.clock.now();
    this.boundStatsAt = now;
    this.writeControl(boundStatsFrame(this.bound.stats(now)));
  }

  private writeControl(frame: Uint8Array): void {
    this.writer.writeControl(frame);
    this.checkWriter();
  }

  /** A writer that failed (connection gone) or is stuck (the reader stopped) ends the session. */
  private checkWriter(): void {
    if (this.writer.failed) this.connectionClosed();
    else if (this.writer.stuck) this.finish("the SSM agent stopped reading the connection");
  }

  private schedulePing(): void {
    const interval = this.options.pingIntervalMs ?? PING_INTERVAL_MS;
    this.cancelTimer = this.clock.setTimer(() => {
      if (this.state !== "up") return;
      const silentMs = this.clock.now() - this.lastHeardAt;
      const limit = this.options.silenceTimeoutMs ?? SILENCE_TIMEOUT_MS;
      if (silentMs >= limit) return this.finish(`nothing from the client for ${Math.round(silentMs / 1000)} s`, CloseReason.Timeout, "no PONG");
      this.writeControl(encodePing(this.nextPingId++, Math.round(this.clock.now() * 1000)));
      this.schedulePing();
    }, interval);
  }

  /**
   * The one way a session ends. With `closeReason`, a CLOSE goes out first (behind whatever the
   * writer still holds; the connection is cut if that takes more than 2 s).
   */
  private finish(reason: string, closeReason?: CloseReason, closeText?: string): void {
    if (this.state === "ended") return;
    const wasUp = this.state === "up";
    this.state = "ended";
    this.cancelTimer();
    this.cancelBoundStats?.();
    if (closeReason !== undefined && !this.endingConnection) this.writer.writeControl(encodeClose(closeReason, closeText ?? reason));
    this.endingConnection = true;
    if (this.writer.backlogBytes === 0 || this.writer.failed) this.endConnection();
    else this.cancelFlush = this.clock.setTimer(() => this.options.connection.destroy(), CLOSE_FLUSH_MS);
    this.logger[wasUp ? "info" : "warn"]("client session ended", { reason, client: this.ack?.hostname, ...this.summary() });
    void this.release(reason);
  }

  private endConnection(): void {
    this.cancelFlush();
    this.options.connection.end();
  }

  /** TUN first, then the addresses: never hand out a pair a device still holds. */
  private async release(reason: string): Promise<void> {
    this.early = [];
    this.tun = undefined;
    await this.opening;
    await this.client?.leave(this);
    this.lease?.release();
    this.endDeferred.resolve({ reason });
  }

  private summary(): Record<string, unknown> {
    const stats = this.stats();
    return {
      clientAddress: stats.clientAddress,
      packetsFromClient: stats.packetsFromClient,
      packetsToClient: stats.packetsToClient,
      drops: stats.drops,
      peakBacklogBytes: stats.writer.peakBacklogBytes,
    };
  }
}

