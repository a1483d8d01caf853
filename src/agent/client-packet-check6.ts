/**
 * The anti-spoofing check of client-packet-check.ts for IPv6: a client with an IPv6 pair may
 * send IPv6 from its own /128 only (not from a link-local or another client's address), to
 * destinations inside the IPv6 entries of `--allow-cidr` (none given: everywhere; only IPv4
 * entries given: nowhere over IPv6). dualStackCheck() sends each packet to the check of its
 * IP version, so a client without an IPv6 pair still has every IPv6 packet refused as spoofed.
 */
import { cidrContains, type Cidr } from "../net/cidr.ts";
import { parseIp } from "../net/ip-address.ts";
import { countingCheck, type ClientPacketCheck, type ClientPacketDrops, type ClientPacketVerdict } from "./client-packet-check.ts";

const IPV6_HEADER_BYTES = 40;

/** Judges IPv6 packets only (anything else is malformed here). */
export function clientPacketCheck6(clientAddress6: string, allowed: readonly Cidr[] | undefined): ClientPacketCheck {
  const source = parseIp(clientAddress6);
  if (source?.family !== 6) throw new RangeError(`client address "${clientAddress6}" is not IPv6`);
  const allowed6 = allowed?.filter((c) => c.family === 6);
  const drops: ClientPacketDrops = { malformed: 0, spoofed: 0, notAllowed: 0 };
  const verdict = (packet: Uint8Array): ClientPacketVerdict => {
    if (packet.length < IPV6_HEADER_BYTES || packet[0]! >>> 4 !== 6) return "malformed";
    for (let i = 0; i < 16; i++) if (packet[8 + i] !== source.bytes[i]) return "spoofed";
    if (allowed6 === undefined) return "ok";
    const destination = { family: 6 as const, bytes: packet.subarray(24, 40), text: "" };
    return allowed6.some((cidr) => cidrContains(cidr, destination)) ? "ok" : "not_allowed";
  };
  return countingCheck(verdict, drops);
}

/** IPv4 packets to `v4`, IPv6 ones to `v6` when there is one (else spoofed, as `v4` says); drops summed. */
export function dualStackCheck(v4: ClientPacketCheck, v6: ClientPacketCheck | undefined): ClientPacketCheck {
  if (v6 === undefined) return v4;
  return {
    check: (packet) => (packet.length > 0 && packet[0]! >>> 4 === 6 ? v6.check(packet) : v4.check(packet)),
    get drops() {
      return { malformed: v4.drops.malformed + v6.drops.malformed, spoofed: v4.drops.spoofed + v6.drops.spoofed, notAllowed: v4.drops.notAllowed + v6.drops.notAllowed };
    },
  };
}
