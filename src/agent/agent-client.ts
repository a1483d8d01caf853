/**
 * One tunnel client as the agent holds it: its address pair, its TUN device and the sessions
 * that carry its packets (issue 13 point 2). A client that does not stripe (protocol 1.0, or
 * one session) is a client of one session. Sessions of a striping client find their client by
 * the client id of HELLO_ACK in an AgentClients registry shared by the server.
 *
 * Packets the TUN reads for the client go to one session each: the flow's rendezvous pick
 * (flow-hash.ts) among the sessions that are up here and, once the client has sent
 * STRIPES_LIVE, also live at the client, so both directions of a flow use the same session
 * and a session whose WebSocket is resuming is skipped. The TUN is closed and the pair given
 * back when the last session leaves, in that order.
 *
 * With a DNS upstream, a forwarder answers on the agent address, port 53 (UDP and TCP), while
 * the TUN is open, for `tunnel up --dns`: it relays this client's queries to the instance's
 * resolver (the VPC's), and closes before the TUN does.
 */
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { silentLogger, type Logger } from "../log.ts";
import { flowHash, pickStripe } from "../tunnel/flow-hash.ts";
import { DNS_PORT, startDnsRelay, type DnsRelay } from "../tunnel/dns/dns-relay.ts";
import { packetFilter } from "../tunnel/packet-filter.ts";
import type { TunDevice, TunOptions } from "../net/tun-device.ts";
import type { AddressLease } from "./address-pool.ts";
import { clientPacketCheck, type ClientPacketCheck } from "./client-packet-check.ts";
import { clientPacketCheck6, dualStackCheck } from "./client-packet-check6.ts";
import type { Ipv6Pair } from "../tunnel/ipv6-offer.ts";
import type { DnsUpstream } from "./instance-resolver.ts";

/** A session as its client sees it. */
export interface ClientMember {
  readonly stripeIndex: number;
  /** A packet from the TUN for this session to send (already filtered). */
  toClient(packet: Uint8Array): void;
  /** Another session took this one's stripe index, or the TUN failed: end. */
  evict(reason: string): void;
}

export interface AgentClientOptions {
  readonly lease: AddressLease;
  readonly openTun: (options: TunOptions) => Promise<TunDevice>;
  readonly tunName: string;
  readonly mtu: number;
  readonly allowCidrs?: readonly Cidr[] | undefined;
  /** Both sides accepted IPv6: the lease's IPv6 pair goes on the TUN and IPv6 packets pass the check. */
  readonly ipv6?: boolean;
  readonly logger?: Logger;
  /** Called once the last session has left (before the TUN is closed). */
  readonly onEmpty?: () => void;
  /** With it, a DNS forwarder on the agent address (UDP and TCP port 53) relays the client's queries there. */
  readonly dnsUpstream?: DnsUpstream | undefined;
  /** The forwarder's port (53; tests pick another). */
  readonly dnsPort?: number;
}

export class AgentClient {
  readonly lease: AddressLease;
  readonly packetCheck: ClientPacketCheck;
  /** The IPv6 pair the TUN carries, when the client has one. */
  readonly ipv6: Ipv6Pair | undefined;
  private readonly forClient: (packet: Uint8Array) => boolean;
  private readonly members = new Map<number, ClientMember>();
  /** Every session that uses this client, up or still opening: the TUN stays while one does. */
  private readonly holders = new Set<ClientMember>();
  private readonly logger: Logger;
  private live: number[] = [];
  private liveMask: number | undefined;
  private opening: Promise<TunDevice> | undefined;
  private device: TunDevice | undefined;
  private closing: Promise<void> | undefined;
  private dns: Promise<DnsRelay | undefined> | undefined;
  /** Packets the TUN read that were not for the client's address. */
  filtered = 0;
  /** Packets read while no session was up. */
  noSession = 0;

  constructor(private readonly options: AgentClientOptions) {
    this.lease = options.lease;
    this.logger = options.logger ?? silentLogger;
    const { clientAddress6, agentAddress6 } = options.lease;
    this.ipv6 = options.ipv6 && clientAddress6 !== undefined && agentAddress6 !== undefined ? { clientAddress6, agentAddress6 } : undefined;
    const dnsAddress = options.dnsUpstream === undefined ? undefined : options.lease.agentAddress;
    const check4 = clientPacketCheck(options.lease.clientAddress, options.allowCidrs, dnsAddress);
    this.packetCheck = dualStackCheck(check4, this.ipv6 && clientPacketCheck6(this.ipv6.clientAddress6, options.allowCidrs));
    const own6 = this.ipv6 ? [parseCidr(this.ipv6.clientAddress6) as Cidr] : [];
    this.forClient = packetFilter(own6, options.lease.clientAddress);
  }

  get tun(): TunDevice | undefined {
    return this.device;
  }

  get size(): number {
    return this.members.size;
  }

  /** A session starts using this client (before its TUN is open). */
  hold(member: ClientMember): void {
    this.holders.add(member);
  }

  /** Opens the TUN once; every session of the client awaits the same device. */
  open(): Promise<TunDevice> {
    this.opening ??= this.options
      .openTun({
        name: this.options.tunName,
        mtu: this.options.mtu,
        address: this.lease.agentAddress,
        peer: this.lease.clientAddress,
        routes: [],
        ...(this.ipv6 ? { address6: this.ipv6.agentAddress6, peer6: this.ipv6.clientAddress6 } : {}),
      })
      .then(async (device) => {
        if (this.closing !== undefined) {
          await device.close();
          throw new Error("the client left while its TUN was being opened");
        }
        this.device = device;
        device.onPacket((packet) => this.fromTun(packet));
        device.onError((error) => {
          for (const member of [...this.members.values()]) member.evict(`the TUN device failed: ${error.message}`);
        });
        // The device holds the agent address now, so the forwarder can bind it.
        this.dns = this.startDns();
        return device;
      });
    return this.opening;
  }

  /** Adds a session that is up; a session already holding its stripe index is evicted. */
  join(member: ClientMember): void {
    this.holders.add(member);
    const old = this.members.get(member.stripeIndex);
    this.members.set(member.stripeIndex, member);
    this.recompute();
    if (old !== undefined && old !== member) old.evict(`replaced by a new session for stripe ${member.stripeIndex}`);
  }

  /** Removes a session; the last one out closes the TUN, then gives the pair back. */
  leave(member: ClientMember): Promise<void> {
    if (this.members.get(member.stripeIndex) === member) this.members.delete(member.stripeIndex);
    this.holders.delete(member);
    this.recompute();
    if (this.holders.size > 0) return Promise.resolve();
    this.closing ??= this.close();
    return this.closing;
  }

  /** STRIPES_LIVE from the client: the sessions it can use now. */
  setLiveMask(mask: number): void {
    this.liveMask = mask;
    this.recompute();
  }

  /** The stripe indexes packets go to now. */
  liveStripes(): readonly number[] {
    return this.live;
  }

  private recompute(): void {
    const here = [...this.members.keys()];
    const mask = this.liveMask;
    const both = mask === undefined ? here : here.filter((i) => i < 32 && (mask >>> i) & 1);
    // A client that marks every session we hold as down still gets its packets somewhere.
    this.live = both.length > 0 ? both : here;
  }

  private fromTun(packet: Uint8Array): void {
    if (!this.forClient(packet)) return void this.filtered++;
    const index = this.live.length === 1 ? this.live[0] : pickStripe(flowHash(packet) ?? 0, this.live);
    const member = index === undefined ? undefined : this.members.get(index);
    if (member === undefined) return void this.noSession++;
    member.toClient(packet);
  }

  private async close(): Promise<void> {
    this.options.onEmpty?.();
    await (await this.dns)?.close();
    const device = this.device ?? (await this.opening?.catch(() => undefined));
    this.device = undefined;
    if (device !== undefined) {
      try {
        await device.close();
      } catch (error) {
        this.logger.warn("removing a client's TUN device failed", { interface: device.name, error: error instanceof Error ? error.message : String(error) });
      }
    }
    this.lease.release();
  }

  /** The DNS forwarder for tunnel up --dns; without it the client still tunnels, so a failure only warns. */
  private async startDns(): Promise<DnsRelay | undefined> {
    const upstream = this.options.dnsUpstream;
    if (upstream === undefined) return undefined;
    const { agentAddress, clientAddress } = this.lease;
    const port = this.options.dnsPort ?? DNS_PORT;
    try {
      // Only this client may ask: not an open resolver for anything else that can reach the address.
      const asker = (from: string): boolean => from === clientAddress;
      const relay = await startDnsRelay({ host: agentAddress, port, upstream, accepts: () => true, asker, logger: this.logger.child({ part: "dns" }) });
      this.logger.debug("DNS forwarder up", { listen: `${agentAddress}:${relay.port}`, upstream: `${upstream.host}:${upstream.port}` });
      return relay;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const why = code === "EACCES" ? "port 53 needs root or CAP_NET_BIND_SERVICE" : error instanceof Error ? error.message : String(error);
      this.logger.warn("no DNS forwarder for this client (tunnel up --dns will not resolve)", { listen: `${agentAddress}:${port}`, error: why });
      return undefined;
    }
  }
}

/** The striping clients of one agent, by client id (hex). */
export type AgentClients = Map<string, AgentClient>;

export function clientKey(clientId: Uint8Array): string {
  return Buffer.from(clientId).toString("hex");
}
