/**
 * Which packets read from the TUN go into the tunnel: only those whose destination lies inside
 * one of the routed CIDRs or is the agent's tunnel address. Everything else the kernel sends on
 * the device (IPv6 router solicitations, multicast listener reports, mDNS) is dropped here, so it
 * never costs SSM messages.
 */
import { cidrContains, type Cidr } from "../net/cidr.ts";
import { parseIp, type IpAddress } from "../net/ip-address.ts";

/** The destination address of an IPv4 or IPv6 packet, or undefined when it is too short or not IP. */
export function packetDestination(packet: Uint8Array): IpAddress | undefined {
  const version = packet[0]! >>> 4;
  if (version === 4 && packet.length >= 20) return { family: 4, bytes: packet.subarray(16, 20), text: "" };
  if (version === 6 && packet.length >= 40) return { family: 6, bytes: packet.subarray(24, 40), text: "" };
  return undefined;
}

/** A predicate: true for a packet whose destination is in `cidrs` or is `peer`. */
export function packetFilter(cidrs: readonly Cidr[], peer: string): (packet: Uint8Array) => boolean {
  const peerAddress = parseIp(peer);
  return (packet) => {
    const destination = packetDestination(packet);
    if (destination === undefined) return false;
    if (peerAddress !== undefined && peerAddress.family === destination.family && peerAddress.bytes.every((b, i) => b === destination.bytes[i])) return true;
    return cidrs.some((cidr) => cidrContains(cidr, destination));
  };
}
