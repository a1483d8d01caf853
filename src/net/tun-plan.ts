/**
 * The TUN options checked and parsed before anything touches the system, the same on every
 * platform: an IPv4 /32 address pair, an optional IPv6 /128 pair, an MTU in range, and CIDRs
 * without host bits.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseCidr, type Cidr } from "./cidr.ts";
import { parseIp } from "./ip-address.ts";
import type { TunOptions } from "./tun-device.ts";

export interface TunPlan {
  address: Uint8Array;
  peer: Uint8Array;
  routes: Cidr[];
  /** The IPv6 pair, when the options give one. */
  address6?: Uint8Array | undefined;
  peer6?: Uint8Array | undefined;
}

/** Throws CredproxyError(ConfigInvalid) naming the bad option. */
export function tunPlan(options: TunOptions): TunPlan {
  const invalid = (message: string) => new CredproxyError(ErrorCode.ConfigInvalid, message);
  const address = parseIp(options.address);
  const peer = parseIp(options.peer);
  if (address?.family !== 4) throw invalid(`tunnel address "${options.address}" is not an IPv4 address`);
  if (peer?.family !== 4) throw invalid(`tunnel peer "${options.peer}" is not an IPv4 address`);
  if (!Number.isInteger(options.mtu) || options.mtu < 576 || options.mtu > 65535) {
    throw invalid(`tunnel MTU ${options.mtu} must be a whole number from 576 to 65535`);
  }
  const routes = options.routes.map((text) => {
    const cidr = parseCidr(text);
    if ("problem" in cidr) throw invalid(`tunnel route: ${cidr.problem}`);
    return cidr;
  });
  if ((options.address6 === undefined) !== (options.peer6 === undefined)) throw invalid("tunnel IPv6 address and peer come together: give both or neither");
  if (options.address6 === undefined || options.peer6 === undefined) return { address: address.bytes, peer: peer.bytes, routes };
  const address6 = parseIp(options.address6);
  const peer6 = parseIp(options.peer6);
  if (address6?.family !== 6) throw invalid(`tunnel IPv6 address "${options.address6}" is not an IPv6 address`);
  if (peer6?.family !== 6) throw invalid(`tunnel IPv6 peer "${options.peer6}" is not an IPv6 address`);
  return { address: address.bytes, peer: peer.bytes, routes, address6: address6.bytes, peer6: peer6.bytes };
}
