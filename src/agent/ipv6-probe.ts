/**
 * Whether this instance can forward client IPv6 at all: it needs a global IPv6 address (EC2
 * gives one to an instance in a dual-stack subnet) and an IPv6 default route, read from
 * /proc/net/if_inet6 and /proc/net/ipv6_route of the agent's own network namespace. Their
 * addresses and routes are also what the derived IPv6 tunnel prefix must stay clear of.
 */
import { readFileSync } from "node:fs";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { ipv6FromBytes } from "../net/ip-address.ts";

const RTF_REJECT = 0x0200;
const SCOPE_GLOBAL = 0;

export interface InstanceIpv6 {
  /** Global-scope addresses with their interface ("2600:1f18::5 on ens5"). */
  readonly globalAddresses: readonly string[];
  /** The interface of the IPv6 default route, if there is one. */
  readonly defaultRouteVia: string | undefined;
  /** Every IPv6 prefix an address or a route of the instance covers. */
  readonly inUse: readonly Cidr[];
}

/** Lines of /proc/net/if_inet6: `address ifindex prefixlen scope flags name`, the address as 32 hex digits. */
export function parseIfInet6(text: string): { cidr: Cidr; address: string; scope: number; name: string }[] {
  return lines(text).flatMap((f) => {
    const address = hexAddress(f[0]);
    const prefix = parseInt(f[2] ?? "", 16);
    if (address === undefined || !Number.isInteger(prefix) || f[5] === undefined) return [];
    const cidr = networkOf(address, prefix);
    return cidr ? [{ cidr, address, scope: parseInt(f[3] ?? "", 16), name: f[5] }] : [];
  });
}

/** Lines of /proc/net/ipv6_route: destination, its prefix length (hex) … flags (field 8), device (field 9). */
export function parseIpv6Routes(text: string): { cidr: Cidr; flags: number; name: string }[] {
  return lines(text).flatMap((f) => {
    const address = hexAddress(f[0]);
    const prefix = parseInt(f[1] ?? "", 16);
    if (address === undefined || f[9] === undefined) return [];
    const cidr = networkOf(address, prefix);
    return cidr ? [{ cidr, flags: parseInt(f[8] ?? "0", 16), name: f[9] }] : [];
  });
}

export function instanceIpv6(ifInet6: string, ipv6Route: string): InstanceIpv6 {
  const addresses = parseIfInet6(ifInet6);
  const routes = parseIpv6Routes(ipv6Route);
  const global = addresses.filter((a) => a.scope === SCOPE_GLOBAL && a.name !== "lo");
  const defaultRoute = routes.find((r) => r.cidr.prefix === 0 && (r.flags & RTF_REJECT) === 0 && r.name !== "lo");
  return {
    globalAddresses: global.map((a) => `${a.address} on ${a.name}`),
    defaultRouteVia: defaultRoute?.name,
    inUse: [...addresses.map((a) => a.cidr), ...routes.filter((r) => r.cidr.prefix > 0).map((r) => r.cidr)],
  };
}

/** Why client IPv6 cannot leave this instance, or undefined when it can. */
export function ipv6Unavailable(info: InstanceIpv6): string | undefined {
  if (info.globalAddresses.length === 0) return "the instance has no global IPv6 address (is its subnet dual-stack, with an IPv6 address assigned?)";
  if (info.defaultRouteVia === undefined) return "the instance has no IPv6 default route";
  return undefined;
}

/** The instance's IPv6 as its /proc says (no IPv6 in the kernel reads as none). */
export function readInstanceIpv6(procNet = "/proc/net"): InstanceIpv6 {
  const read = (name: string) => {
    try {
      return readFileSync(`${procNet}/${name}`, "utf8");
    } catch {
      return "";
    }
  };
  return instanceIpv6(read("if_inet6"), read("ipv6_route"));
}

function lines(text: string): string[][] {
  return text
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 6);
}

function hexAddress(hex: string | undefined): string | undefined {
  if (hex === undefined || !/^[0-9a-f]{32}$/i.test(hex)) return undefined;
  return ipv6FromBytes(Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)))).text;
}

function networkOf(address: string, prefix: number): Cidr | undefined {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) return undefined;
  const bytes = parseCidr(address) as Cidr;
  const masked = Uint8Array.from(bytes.bytes);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    masked[i] = masked[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  const cidr = parseCidr(`${ipv6FromBytes(masked).text}/${prefix}`);
  return "problem" in cidr ? undefined : cidr;
}
