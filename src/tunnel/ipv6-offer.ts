/**
 * The IPv6 part of HELLO and STRIPE_JOINED (protocol 1.2, CAPABILITY_IPV6): appended after
 * the 1.1 fields, so a 1.1 peer skips it as a newer minor's trailing bytes.
 *
 *     HELLO (1.2):          … agentVersion, u8 kind, then kind 1: client[16] agent[16];
 *                                                        kind 0: string8 why not
 *     STRIPE_JOINED (1.2):  … agent[4], then client[16] agent[16] when the client has IPv6
 *
 * kind 0 is how an agent says it cannot forward IPv6 (no global address or default route on
 * the instance, no NAT66), so the client reports that instead of routing IPv6 into nothing.
 */
import { parseIpv6, ipv6FromBytes } from "../net/ip-address.ts";
import type { BodyReader, BodyWriter } from "./body-codec.ts";
import { FramingError } from "./framing-error.ts";

/** An IPv6 address pair, beside the IPv4 one: a /128 each, the other end as peer. */
export interface Ipv6Pair {
  readonly clientAddress6: string;
  readonly agentAddress6: string;
}

/** What an agent's HELLO says about IPv6: a pair, or why there is none. */
export type Ipv6Offer = Ipv6Pair | { readonly unavailable: string };

export function isIpv6Pair(offer: Ipv6Offer | undefined): offer is Ipv6Pair {
  return offer !== undefined && "clientAddress6" in offer;
}

export function writeIpv6Offer(w: BodyWriter, offer: Ipv6Offer): BodyWriter {
  if (!isIpv6Pair(offer)) return w.u8(0).string8(offer.unavailable.slice(0, 200), "the IPv6 reason");
  return writeIpv6Pair(w.u8(1), offer);
}

export function writeIpv6Pair(w: BodyWriter, pair: Ipv6Pair): BodyWriter {
  return w.raw(ipv6Bytes(pair.clientAddress6, "the client IPv6 address")).raw(ipv6Bytes(pair.agentAddress6, "the agent IPv6 address"));
}

/** The offer when the body has one (a 1.2 peer); undefined for a 1.1 body. */
export function readIpv6Offer(r: BodyReader): Ipv6Offer | undefined {
  if (r.remaining === 0) return undefined;
  const kind = r.u8();
  if (kind === 0) return { unavailable: r.string8("the IPv6 reason") };
  if (kind !== 1) throw r.bad(`IPv6 offer kind ${kind} is not 0 or 1`);
  return readIpv6Pair(r);
}

/** A pair when 32 bytes remain (STRIPE_JOINED of a client with IPv6). */
export function readIpv6PairIfAny(r: BodyReader): Ipv6Pair | undefined {
  return r.remaining >= 32 ? readIpv6Pair(r) : undefined;
}

function readIpv6Pair(r: BodyReader): Ipv6Pair {
  const clientAddress6 = ipv6FromBytes(r.bytesCopy(16)).text;
  const agentAddress6 = ipv6FromBytes(r.bytesCopy(16)).text;
  return { clientAddress6, agentAddress6 };
}

function ipv6Bytes(text: string, field: string): Uint8Array {
  const parsed = parseIpv6(text);
  if (parsed === undefined) throw new FramingError("bad_body", `${field} "${text}" is not an IPv6 address`);
  return parsed.bytes;
}
