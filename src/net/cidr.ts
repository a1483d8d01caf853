/**
 * CIDR ranges for the proxy's destination allow-list (`10.20.0.0/16`, `fd12::/64`). A range
 * with host bits set is refused rather than silently widened or narrowed, because
 * `10.0.0.1/8` usually means the writer expected something else.
 */
import { ipv4FromBytes, ipv6FromBytes, parseIp, type IpAddress } from "./ip-address.ts";

export interface Cidr {
  readonly family: 4 | 6;
  /** The network address, host bits zero. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** Canonical `address/prefix`. */
  readonly text: string;
}

/** Zeroes every bit after `prefix`. */
function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** Reads `address/prefix` or a bare address (a /32 or /128). */
export function parseCidr(text: string): Cidr | { problem: string } {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseIp(addressText);
  if (!address) return { problem: `"${addressText}" is not an IPv4 or IPv6 address` };
  const max = address.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max) {
      return { problem: `prefix length "${prefixText}" in "${text}" must be a whole number from 0 to ${max}` };
    }
    prefix = Number(prefixText);
  }
  const network = maskBytes(address.bytes, prefix);
  const networkText = `${(address.family === 4 ? ipv4FromBytes(network) : ipv6FromBytes(network)).text}/${prefix}`;
  if (!network.every((b, i) => b === address.bytes[i])) {
    return { problem: `${text} has host bits set; write ${networkText}` };
  }
  return { family: address.family, bytes: network, prefix, text: networkText };
}

/** True when `address` is inside `cidr`; an IPv4 address never matches an IPv6 range. */
export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  if (cidr.family !== address.family) return false;
  const masked = maskBytes(address.bytes, cidr.prefix);
  return masked.every((b, i) => b === cidr.bytes[i]);
}
