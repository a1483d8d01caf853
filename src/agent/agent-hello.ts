/** The agent's HELLO: the address pair leased for the client, our MTU, version and capabilities. */
import { encodeHello, PROTOCOL_VERSION } from "../tunnel/framing.ts";
import type { Ipv6Offer } from "../tunnel/ipv6-offer.ts";
import { VERSION } from "../version.ts";
import type { AddressLease } from "./address-pool.ts";

export function encodeAgentHello(lease: AddressLease, ipv6: Ipv6Offer, capabilities: number, mtu: number): Uint8Array {
  return encodeHello({
    version: PROTOCOL_VERSION,
    capabilities,
    ipv6,
    mtu,
    clientAddress: lease.clientAddress,
    agentAddress: lease.agentAddress,
    sessionNonce: crypto.getRandomValues(new Uint8Array(16)),
    agentVersion: VERSION,
  });
}

/** HELLO's IPv6 part: the lease's pair, or why there is none. */
export function ipv6Offer(lease: AddressLease, unavailable: string | undefined): Ipv6Offer {
  if (unavailable !== undefined) return { unavailable };
  if (lease.clientAddress6 === undefined || lease.agentAddress6 === undefined) return { unavailable: "the agent has no IPv6 tunnel prefix" };
  return { clientAddress6: lease.clientAddress6, agentAddress6: lease.agentAddress6 };
}
