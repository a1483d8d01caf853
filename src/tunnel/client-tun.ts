/**
 * The client's one TUN device, shared by every session of the tunnel: kept while the agent's
 * addresses and the MTU stay the same, else closed and opened again with a route per CIDR.
 */
import type { CredproxyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Cidr } from "../net/cidr.ts";
import { asError } from "./as-error.ts";
import { isIpv6Pair } from "./ipv6-offer.ts";
import { describeIpv6, routedCidrs } from "./ipv6-state.ts";
import type { OpenTun, TunnelSessionOptions, TunPair } from "./tunnel-types.ts";

/** What the TUN needs from the tunnel it belongs to. */
export interface ClientTunHost {
  readonly options: Pick<TunnelSessionOptions, "openTun" | "tunName">;
  readonly logger: Logger;
  readonly cidrs: readonly Cidr[];
  /** True once the tunnel ends: a TUN opened after that is closed at once. */
  stopping(): boolean;
  fromTun(packet: Uint8Array): void;
  failTunnel(error: CredproxyError): void;
}

export class ClientTun {
  /** The open device, its key (addresses and MTU) and what `tunnel up` prints for it. */
  current: OpenTun | undefined;
  /** TUN (re)opens one after another, so two sessions coming up at once share one device. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly host: ClientTunHost) {}

  /** Keeps the open TUN when the addresses and the MTU are unchanged, else (re)opens it. */
  ensure(pair: TunPair, mtu: number): Promise<void> {
    const next = this.queue.then(() => this.reopen(pair, mtu));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async reopen(pair: TunPair, mtu: number): Promise<void> {
    const key = `${pair.clientAddress}|${pair.agentAddress}|${describeIpv6(pair.ipv6)}|${mtu}`;
    if (this.current?.key === key || this.host.stopping()) return;
    const old = this.current;
    this.current = undefined;
    if (old !== undefined) {
      this.host.logger.info("the agent gave new tunnel addresses; reopening the TUN", { old: old.key, new: key });
      await old.device.close();
    }
    const routes = routedCidrs(this.host.cidrs, pair.ipv6).map((c) => c.text);
    const device = await this.host.options.openTun({
      ...(this.host.options.tunName !== undefined ? { name: this.host.options.tunName } : {}),
      mtu,
      address: pair.clientAddress,
      peer: pair.agentAddress,
      routes,
      ...(isIpv6Pair(pair.ipv6) ? { address6: pair.ipv6.clientAddress6, peer6: pair.ipv6.agentAddress6 } : {}),
    });
    if (this.host.stopping()) {
      await device.close();
      return;
    }
    device.onPacket((packet) => this.host.fromTun(packet));
    device.onError((error) => this.host.failTunnel(asError(error, "the TUN device failed")));
    this.current = { device, key, up: { interface: device.name, clientAddress: pair.clientAddress, agentAddress: pair.agentAddress, mtu, routes, ipv6: pair.ipv6 } };
  }

  /** At the tunnel's end, once any (re)open in progress is done: the TUN and its routes removed. */
  async close(): Promise<void> {
    await this.queue;
    const tun = this.current;
    this.current = undefined;
    if (tun !== undefined) {
      try {
        await tun.device.close();
      } catch (error) {
        this.host.logger.warn("removing the TUN device failed", { error: asError(error, "close").message });
      }
    }
  }
}
