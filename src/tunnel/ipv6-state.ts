/**
 * What the client makes of the agent's IPv6 offer: a pair for its TUN, or why IPv6 is not
 * carried (an agent before protocol 1.2, or one whose instance cannot forward IPv6). Without a
 * pair the IPv6 CIDRs are not routed into the TUN at all, so IPv6 traffic to them fails at once
 * on this machine ("network unreachable") instead of vanishing in the tunnel.
 */
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { isIpv6Pair, type Ipv6Offer } from "./ipv6-offer.ts";
import { CAPABILITY_IPV6, formatVersion } from "./protocol-version.ts";
import type { HelloFrame } from "./frames.ts";

export type Ipv6State = Ipv6Offer;

export const IPV6_HINT = "run `credproxy agent check` on the instance: IPv6 needs a global IPv6 address and an IPv6 default route there, and credproxy 1.2+ (tunnel protocol 1.2) on both ends";

/** The IPv6 state a HELLO gives, with the capabilities both sides accepted. */
export function helloIpv6(hello: HelloFrame, negotiated: number): Ipv6State {
  if ((negotiated & CAPABILITY_IPV6) !== 0 && isIpv6Pair(hello.ipv6)) return hello.ipv6;
  if (hello.ipv6 !== undefined && !isIpv6Pair(hello.ipv6)) return hello.ipv6;
  return { unavailable: `the agent (credproxy ${hello.agentVersion}, tunnel protocol ${formatVersion(hello.version)}) does not support IPv6` };
}

/** The CIDRs routed into the TUN: the IPv6 ones only with an IPv6 pair. */
export function routedCidrs(cidrs: readonly Cidr[], ipv6: Ipv6State): Cidr[] {
  return isIpv6Pair(ipv6) ? [...cidrs] : cidrs.filter((c) => c.family === 4);
}

/** What the TUN reader sends: the routed CIDRs, and the agent's IPv6 address (a /128) with a pair. */
export function sentCidrs(cidrs: readonly Cidr[], ipv6: Ipv6State): Cidr[] {
  const routed = routedCidrs(cidrs, ipv6);
  return isIpv6Pair(ipv6) ? [...routed, parseCidr(ipv6.agentAddress6) as Cidr] : routed;
}

/** `fd63::3 -> fd63::2` or `not available: why`. */
export function describeIpv6(ipv6: Ipv6State): string {
  return isIpv6Pair(ipv6) ? `${ipv6.clientAddress6} -> ${ipv6.agentAddress6}` : `not available: ${ipv6.unavailable}`;
}
