/**
 * Anti-spoofing for `credproxy agent`: a packet from a client is put on the network only if its
 * source is the address that client was given and its destination lies inside the allowed
 * CIDRs (`--allow-cidr`; none given means everywhere). Without the source check one client
 * could forge another's traffic (or anyone's, behind MASQUERADE); the destination check is the
 * agent's allow-list, enforced again by the NAT rules' FORWARD chain for forwarded traffic but
 * only here for packets to the instance itself. The one exception to the allow-list is DNS to the
 * agent's own tunnel address when its forwarder runs (UDP or TCP to port 53): that is where
 * `tunnel up --dns` sends the zones' queries, whatever --allow-cidr says.
 */
import { cidrContains, type Cidr } from "../net/cidr.ts";
import { parseIp } from "../net/ip-address.ts";

export type ClientPacketVerdict = "ok" | "malformed" | "spoofed" | "not_allowed";

/** Packets refused so far, by reason. */
export interface ClientPacketDrops {
  malformed: number;
  spoofed: number;
  notAllowed: number;
}

export interface ClientPacketCheck {
  /** Judges one packet and counts it when refused. */
  check(packet: Uint8Array): ClientPacketVerdict;
  readonly drops: Readonly<ClientPacketDrops>;
}

/**
 * `clientAddress` is the client's dotted IPv4 address; `allowed` undefined means every
 * destination; `dnsAddress`, the agent's tunnel address while its DNS forwarder runs. IPv6 from
 * a client is always refused: the agent gives clients no IPv6 address.
 */
export function clientPacketCheck(clientAddress: string, allowed: readonly Cidr[] | undefined, dnsAddress?: string): ClientPacketCheck {
  const source = parseIp(clientAddress);
  if (source?.family !== 4) throw new RangeError(`client address "${clientAddress}" is not IPv4`);
  const s = source.bytes;
  const isDns = dnsAddress === undefined ? () => false : dnsTo(dnsAddress);
  const drops: ClientPacketDrops = { malformed: 0, spoofed: 0, notAllowed: 0 };
  const verdict = (packet: Uint8Array): ClientPacketVerdict => {
    const version = packet.length > 0 ? packet[0]! >>> 4 : 0;
    if (version === 6) return "spoofed";
    if (version !== 4 || packet.length < 20) return "malformed";
    if (packet[12] !== s[0] || packet[13] !== s[1] || packet[14] !== s[2] || packet[15] !== s[3]) return "spoofed";
    if (allowed === undefined || isDns(packet)) return "ok";
    const destination = { family: 4 as const, bytes: packet.subarray(16, 20), text: "" };
    return allowed.some((cidr) => cidrContains(cidr, destination)) ? "ok" : "not_allowed";
  };
  return countingCheck(verdict, drops);
}

/** A check from a verdict function that counts every refusal in `drops` (client-packet-check6.ts too). */
export function countingCheck(verdict: (packet: Uint8Array) => ClientPacketVerdict, drops: ClientPacketDrops): ClientPacketCheck {
  return {
    drops,
    check(packet) {
      const result = verdict(packet);
      if (result === "malformed") drops.malformed++;
      else if (result === "spoofed") drops.spoofed++;
      else if (result === "not_allowed") drops.notAllowed++;
      return result;
    },
  };
}

/** UDP or TCP to port 53 at `address` (an IPv4 packet whose header the caller has checked). */
function dnsTo(address: string): (packet: Uint8Array) => boolean {
  const d = parseIp(address)!.bytes;
  return (packet) => {
    const protocol = packet[9];
    if (protocol !== 17 && protocol !== 6) return false;
    if (packet[16] !== d[0] || packet[17] !== d[1] || packet[18] !== d[2] || packet[19] !== d[3]) return false;
    const at = (packet[0]! & 0x0f) * 4;
    // A later fragment has no ports; its first fragment was judged already.
    const fragmentOffset = ((packet[6]! & 0x1f) << 8) | packet[7]!;
    return fragmentOffset === 0 && packet.length >= at + 4 && ((packet[at + 2]! << 8) | packet[at + 3]!) === 53;
  };
}
