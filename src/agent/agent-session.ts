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
import type { Cidr } from "../net/cidr.ts";
import { silentLogger, type Logger } from "../log.ts";
import {
  CloseReason,
  encodeClose,
  encodeHello,
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
  encodeBoundStats,
  encodeStripeJoined,
  type Frame,
  type HelloAckFrame,
} from "../tunnel/framing.ts";
import type { TunDevice, TunOptions } from "../net/tun-device.ts";
import { systemClock, type TunnelClock } from "../tunnel/tunnel-clock.ts";
import { VERSION } from "../version.ts";
import type { AddressLease, AddressPool } from "./address-pool.ts";
import { AgentClient, clientKey, type AgentClients, type ClientMember } from "./agent-client.ts";
import { isIpv6Pair, type Ipv6Offer } from "../tunnel/ipv6-offer.ts";
import { BacklogWriter, type BacklogStats, type BacklogWriterOptions, type ByteSink } from "./backlog-writer.ts";
import type { DnsUpstream } from "./instance-resolver.ts";
import { InFlightBound, type InFlightBoundOptions, type InFlightBoundStats } from "./in-flight-bound.ts";

export const DEFAULT_AGENT_MTU = 1400;
/** The agent's TUN devices; the kernel numbers them. Distinct from the client's cpx%d. */
export const AGENT_TUN_NAME = "cpa%d";
/** Client packets held while the TUN is being opened (the client may send right after HELLO_ACK). */
const EARLY_PACKETS = 64;
/** A client PINGs every 15 s; this long without a byte from it ends the session. */
export const SILENCE_TIMEOUT_MS = 60_000;
/** How long a CLOSE may take to reach the SSM agent before the connection is cut. */
const CLOSE_FLUSH_MS = 2000;
/** BOUND_STATS goes to the client at most this often (only while its reports arrive). */
const BOUND_STATS_INTERVAL_MS = 1000;

/** The SSM agent's connection as a session sees it. */
export interface AgentConnection extends ByteSink {
  /** Half-closes once what was written has gone (Bun's socket.end()). */
  end(): void;
  /** Drops the connection at once. */
  destroy(): void;
}

export interface AgentSessionOptions {
  readonly connection: AgentConnection;
  readonly pool: AddressPool;
  readonly openTun: (options: TunOptions) => Promise<TunDevice>;
  /** Destinations clients may reach; undefined: everywhere. */
  readonly allowCidrs?: readonly Cidr[] | undefined;
  readonly mtu?: number;
  readonly tunName?: string;
  readonly clock?: TunnelClock;
  readonly logger?: Logger;
  readonly helloAckTimeoutMs?: number;
  readonly pingIntervalMs?: number;
  /** With no byte from the client for this long, the session ends. Default 60 s. */
  readonly silenceTimeoutMs?: number;
  /** The bounds of the backlog toward the SSM agent (defaults: backlog-writer.ts). */
  readonly backlog?: BacklogWriterOptions;
  /** The server's striping clients, shared by its sessions; a session of its own when absent. */
  readonly clients?: AgentClients;
  /** Why this agent cannot forward IPv6 (told to clients in HELLO); undefined: it can, when the pool has an IPv6 prefix. */
  readonly ipv6Unavailable?: string | undefined;
  /** With it, each client gets a DNS forwarder on its agent address (port 53) relaying there. */
  readonly dnsUpstream?: DnsUpstream | undefined;
  /** The forwarder's port (53; tests pick another). */
  readonly dnsPort?: number;
  /**
   * The end-to-end bound on bytes in flight toward a client that reports what it received
   * (in-flight-bound.ts); false (the benchmark's unbounded queues) neither offers nor applies it.
   */
  readonly inFlightBound?: boolean | InFlightBoundOptions;
}

export type AgentSessionState = "hello_sent" | "opening" | "up" | "ended";

export interface AgentSessionDrops {
  malformed: number;
  spoofed: number;
  notAllowed: number;
  /** Client packets above the MTU. */
  oversize: number;
  /** The TUN refused a write (its queue was full). */
  tunWrite: number;
  /** Client packets past the small queue kept while the TUN opened. */
  early: number;
  /** Packets the TUN read that were not for the client's address (IPv6 chatter, say). */
  filtered: number;
  /** Packets toward the client dropped because the SSM agent's connection was backed up. */
  backlog: number;
  /** Packets the client's TUN read while none of its sessions was up (this and `filtered` count per client). */
  noSession: number;
  /** Packets toward the client dropped because the bytes in flight to it were at the in-flight bound. */
  inFlightBound: number;
}

export interface AgentSessionStats {
  readonly state: AgentSessionState;
  readonly clientAddress: string | undefined;
  readonly agentAddress: string | undefined;
  readonly interface: string | undefined;
  readonly hostname: string | undefined;
  /** `index/count` of a striping client's session. */
  readonly stripe: string | undefined;
  packetsFromClient: number;
  bytesFromClient: number;
  packetsToClient: number;
  bytesToClient: number;
  readonly drops: AgentSessionDrops;
  readonly rttMs: number | undefined;
  readonly writer: BacklogStats;
  /** The in-flight bound, when the client reports what it receives. */
  readonly inFlightBound: InFlightBoundStats | undefined;
}

export interface AgentSessionEnd {
  readonly reason: string;
}

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
    this.writer.writeControl(
      encodeHello({
        version: PROTOCOL_VERSION,
        capabilities: this.offered(),
        ipv6,
        mtu: this.mtu,
        clientAddress: lease.clientAddress,
        agentAddress: lease.agentAddress,
        sessionNonce: crypto.getRandomValues(new Uint8Array(16)),
        agentVersion: VERSION,
      }),
    );
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

  /**
   * The client this session carries packets for: with stripes, the one its client id names
   * (created with this session's pair when it is the first; else this session's pair goes
   * back), without, a client of this session alone.
   */
  private clientFor(ack: HelloAckFrame, striped: boolean, ipv6: boolean): AgentClient {
    const registry = this.options.clients;
    const key = clientKey(ack.clientId);
    const existing = striped ? registry?.get(key) : undefined;
    if (existing !== undefined) {
      this.lease?.release();
      this.lease = undefined;
      return existing;
    }
    const lease = this.lease!;
    this.lease = undefined;
    const client = new AgentClient({
      lease,
      openTun: this.options.openTun,
      tunName: this.options.tunName ?? AGENT_TUN_NAME,
      mtu: this.mtu,
      allowCidrs: this.options.allowCidrs,
      ipv6,
      dnsUpstream: this.options.dnsUpstream,
      ...(this.options.dnsPort === undefined ? {} : { dnsPort: this.options.dnsPort }),
      logger: this.logger,
      ...(striped && registry !== undefined ? { onEmpty: () => registry.get(key) === client && registry.delete(key) } : {}),
    });
    if (striped) registry?.set(key, client);
    return client;
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
    const stats = this.bound.stats(now);
    const u32 = (n: number | undefined) => Math.min(0xffffffff, Math.max(0, Math.round(n ?? 0)));
    this.writeControl(
      encodeBoundStats({
        drops: stats.drops,
        dropBytes: stats.dropBytes,
        limitBytes: u32(stats.limitBytes),
        inFlightBytes: u32(stats.inFlightBytes),
        rateBytesPerSecond: u32(stats.rateBytesPerSecond),
        minRttMicros: u32((stats.minRttMs ?? 0) * 1000),
      }),
    );
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

/** HELLO's IPv6 part: the lease's pair, or why there is none. */
function ipv6Offer(lease: AddressLease, unavailable: string | undefined): Ipv6Offer {
  if (unavailable !== undefined) return { unavailable };
  if (lease.clientAddress6 === undefined || lease.agentAddress6 === undefined) return { unavailable: "the agent has no IPv6 tunnel prefix" };
  return { clientAddress6: lease.clientAddress6, agentAddress6: lease.agentAddress6 };
}
