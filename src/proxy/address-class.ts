/**
 * Which destination addresses the proxy may dial. Names are judged by the allow-list; this
 * judges the addresses they resolve to, so an allowed name pointing at 10.0.0.5, the cloud
 * metadata service or the proxy itself gets no connection (and no credential).
 *
 * Every IPv6 form that carries an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) is
 * judged by that IPv4 address: `64:ff9b::a00:1` is 10.0.0.1 to a NAT64 gateway.
 * Operator `allow` ranges win over every class except the proxy's own listen address+port.
 */
import { cidrContains, type Cidr } from "../net/cidr.ts";
import { ipv4FromBytes, sameAddress, type IpAddress } from "../net/ip-address.ts";

export type AddressClass =
  | "public"
  | "unspecified"
  | "loopback"
  | "private"
  | "cgnat"
  | "link-local"
  | "metadata"
  | "ula"
  | "multicast"
  | "broadcast"
  | "reserved"
  | "documentation"
  | "benchmarking";

interface Range {
  readonly bytes: readonly number[];
  readonly prefix: number;
  readonly class: AddressClass;
  readonly detail: string;
}

/** Most specific first: the first containing range decides. */
const IPV4_RANGES: readonly Range[] = [
  { bytes: [0, 0, 0, 0], prefix: 8, class: "unspecified", detail: '"this network" 0.0.0.0/8' },
  { bytes: [10, 0, 0, 0], prefix: 8, class: "private", detail: "RFC 1918 10.0.0.0/8" },
  { bytes: [100, 64, 0, 0], prefix: 10, class: "cgnat", detail: "carrier-grade NAT 100.64.0.0/10" },
  { bytes: [127, 0, 0, 0], prefix: 8, class: "loopback", detail: "loopback 127.0.0.0/8" },
  { bytes: [169, 254, 169, 254], prefix: 32, class: "metadata", detail: "cloud instance metadata 169.254.169.254" },
  { bytes: [169, 254, 170, 2], prefix: 32, class: "metadata", detail: "container credentials endpoint 169.254.170.2" },
  { bytes: [169, 254, 0, 0], prefix: 16, class: "link-local", detail: "link-local 169.254.0.0/16" },
  { bytes: [172, 16, 0, 0], prefix: 12, class: "private", detail: "RFC 1918 172.16.0.0/12" },
  { bytes: [192, 0, 0, 0], prefix: 24, class: "reserved", detail: "IETF protocol assignments 192.0.0.0/24" },
  { bytes: [192, 0, 2, 0], prefix: 24, class: "documentation", detail: "documentation 192.0.2.0/24" },
  { bytes: [192, 88, 99, 0], prefix: 24, class: "reserved", detail: "deprecated 6to4 relay anycast 192.88.99.0/24" },
  { bytes: [192, 168, 0, 0], prefix: 16, class: "private", detail: "RFC 1918 192.168.0.0/16" },
  { bytes: [198, 18, 0, 0], prefix: 15, class: "benchmarking", detail: "benchmarking 198.18.0.0/15" },
  { bytes: [198, 51, 100, 0], prefix: 24, class: "documentation", detail: "documentation 198.51.100.0/24" },
  { bytes: [203, 0, 113, 0], prefix: 24, class: "documentation", detail: "documentation 203.0.113.0/24" },
  { bytes: [224, 0, 0, 0], prefix: 4, class: "multicast", detail: "multicast 224.0.0.0/4" },
  { bytes: [255, 255, 255, 255], prefix: 32, class: "broadcast", detail: "limited broadcast 255.255.255.255" },
  { bytes: [240, 0, 0, 0], prefix: 4, class: "reserved", detail: "reserved 240.0.0.0/4" },
];

/** IPv6 ranges that do not embed an IPv4 address. Most specific first. */
const IPV6_RANGES: readonly Range[] = [
  { bytes: [0x01, 0, 0, 0, 0, 0, 0, 0], prefix: 64, class: "reserved", detail: "discard-only 100::/64" },
  { bytes: [0x00, 0x64, 0xff, 0x9b, 0, 1], prefix: 48, class: "reserved", detail: "local-use NAT64 64:ff9b:1::/48" },
  { bytes: [0x20, 0x01, 0x0d, 0xb8], prefix: 32, class: "documentation", detail: "documentation 2001:db8::/32" },
  { bytes: [0x20, 0x01, 0x00, 0x02, 0, 0], prefix: 48, class: "benchmarking", detail: "benchmarking 2001:2::/48" },
  { bytes: [0x3f, 0xff], prefix: 20, class: "documentation", detail: "documentation 3fff::/20" },
  { bytes: [0xfd, 0x00, 0x0e, 0xc2], prefix: 32, class: "metadata", detail: "EC2 instance metadata fd00:ec2::/32" },
  { bytes: [0xfc], prefix: 7, class: "ula", detail: "unique local fc00::/7" },
  { bytes: [0xfe, 0x80], prefix: 10, class: "link-local", detail: "link-local fe80::/10" },
  { bytes: [0xfe, 0xc0], prefix: 10, class: "private", detail: "deprecated site-local fec0::/10" },
  { bytes: [0xff], prefix: 8, class: "multicast", detail: "multicast ff00::/8" },
];

function inRange(bytes: Uint8Array, range: Range): boolean {
  for (let bit = 0; bit < range.prefix; bit++) {
    const i = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((bytes[i]! & mask) !== ((range.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

/** The IPv4 address an IPv6 form carries, with the name of the form; undefined for none. */
export function embeddedIpv4(address: IpAddress): { ipv4: IpAddress; form: string } | undefined {
  if (address.family !== 6) return undefined;
  const b = address.bytes;
  const last4 = b.subarray(12, 16);
  const zeros = (n: number) => new Array<number>(n).fill(0);
  if (startsWith(b, [...zeros(10), 0xff, 0xff])) return { ipv4: ipv4FromBytes(last4), form: "IPv4-mapped" };
  if (startsWith(b, [...zeros(8), 0xff, 0xff, 0, 0])) return { ipv4: ipv4FromBytes(last4), form: "IPv4-translated" };
  if (startsWith(b, zeros(12)) && !(b[12] === 0 && b[13] === 0 && b[14] === 0 && b[15]! <= 1)) {
    return { ipv4: ipv4FromBytes(last4), form: "IPv4-compatible" };
  }
  if (startsWith(b, [0x00, 0x64, 0xff, 0x9b, ...zeros(8)])) return { ipv4: ipv4FromBytes(last4), form: "NAT64 (64:ff9b::/96)" };
  if (startsWith(b, [0x20, 0x02])) return { ipv4: ipv4FromBytes(b.subarray(2, 6)), form: "6to4 (2002::/16)" };
  if (startsWith(b, [0x20, 0x01, 0x00, 0x00])) {
    return { ipv4: ipv4FromBytes(last4.map((x) => x ^ 0xff)), form: "Teredo (2001::/32) client" };
  }
  return undefined;
}

/** The class of one address and a short phrase saying why. */
export function classifyAddress(address: IpAddress): { class: AddressClass; detail: string } {
  if (address.family === 4) {
    const range = IPV4_RANGES.find((r) => inRange(address.bytes, r));
    return range ? { class: range.class, detail: range.detail } : { class: "public", detail: "public IPv4" };
  }
  const b = address.bytes;
  if (b.every((x) => x === 0)) return { class: "unspecified", detail: "unspecified ::" };
  if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return { class: "loopback", detail: "loopback ::1" };
  const embedded = embeddedIpv4(address);
  if (embedded) {
    const inner = classifyAddress(embedded.ipv4);
    return { class: inner.class, detail: `${embedded.form} form of ${embedded.ipv4.text} (${inner.detail})` };
  }
  const range = IPV6_RANGES.find((r) => inRange(b, r));
  if (range) return { class: range.class, detail: range.detail };
  if ((b[0]! & 0xe0) !== 0x20) return { class: "reserved", detail: "outside global unicast 2000::/3" };
  return { class: "public", detail: "public IPv6" };
}

export interface SelfAddress {
  readonly address: IpAddress;
  readonly port: number;
}

/** The IPv4 address an IPv4-mapped IPv6 address stands for, else the address itself. */
function unmapped(address: IpAddress): IpAddress {
  const embedded = embeddedIpv4(address);
  return embedded?.form === "IPv4-mapped" ? embedded.ipv4 : address;
}

/**
 * True when dialing `address:port` would reach the proxy itself. The self list should be
 * concrete; an unspecified (0.0.0.0 / ::) entry still matches loopback and unspecified
 * destinations on its port.
 */
function isSelf(address: IpAddress, port: number, self: readonly SelfAddress[]): boolean {
  const target = unmapped(address);
  return self.some((entry) => {
    if (entry.port !== port) return false;
    const own = unmapped(entry.address);
    if (sameAddress(own, target)) return true;
    if (classifyAddress(own).class !== "unspecified") return false;
    const cls = classifyAddress(target).class;
    return cls === "loopback" || cls === "unspecified";
  });
}

/** May the proxy dial `address:port`? `allow` wins over every class except self. */
export function checkDestination(
  address: IpAddress,
  port: number,
  options: { allow: readonly Cidr[]; self: readonly SelfAddress[] },
): { ok: true } | { ok: false; class: string; reason: string } {
  if (isSelf(address, port, options.self)) {
    return { ok: false, class: "self", reason: `${address.text} port ${port} is this proxy's own listen address` };
  }
  const plain = unmapped(address);
  if (options.allow.some((cidr) => cidrContains(cidr, address) || cidrContains(cidr, plain))) return { ok: true };
  const { class: cls, detail } = classifyAddress(address);
  if (cls === "public") return { ok: true };
  return { ok: false, class: cls, reason: `${address.text} is a ${cls} address (${detail})` };
}
