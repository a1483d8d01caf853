/**
 * The checks every --cidr (and `cidrs:` entry) passes before anything is routed: it parses with
 * no host bits, it is not a default route (that would send the path to AWS itself into the
 * tunnel), it does not cover loopback, and it is not given twice (the second route would fail).
 * An address the tunnel itself must reach outside the tunnel (the SSM, ssmmessages or EC2
 * endpoint, when known) must not be inside any of them either.
 */
import { cidrContains, parseCidr, type Cidr } from "../net/cidr.ts";
import { parseIp } from "../net/ip-address.ts";

const LOOPBACK = [parseCidr("127.0.0.0/8") as Cidr, parseCidr("::1/128") as Cidr];
/** IPv6 ranges that are never a VPC's: each with why, and what to write instead. */
const NOT_ROUTABLE_V6: readonly { cidr: Cidr; why: string }[] = [
  { cidr: parseCidr("::/128") as Cidr, why: "is the unspecified address" },
  { cidr: parseCidr("::ffff:0:0/96") as Cidr, why: "is IPv4-mapped: give the IPv4 range itself (e.g. 10.0.0.0/16)" },
  { cidr: parseCidr("fe80::/10") as Cidr, why: "is link-local: it names this host's own links and never crosses a router; give the VPC's IPv6 range (e.g. 2600:1f18:aa:bb00::/56)" },
  { cidr: parseCidr("ff00::/8") as Cidr, why: "is multicast, which the tunnel does not carry; give the VPC's IPv6 range (e.g. 2600:1f18:aa:bb00::/56)" },
];

/** Why `text` cannot be routed through the tunnel, or the CIDR. */
export function checkTunnelCidr(text: string): Cidr | { problem: string } {
  const cidr = parseCidr(text.trim());
  if ("problem" in cidr) return cidr;
  if (cidr.prefix === 0) return { problem: `${cidr.text} is a default route: it would send everything, the connection to AWS included, into the tunnel; name the private ranges instead (e.g. ${cidr.family === 4 ? "10.0.0.0/8" : "fd00::/8 or the VPC's /56"})` };
  if (LOOPBACK.some((lo) => overlaps(lo, cidr))) return { problem: `${cidr.text} overlaps loopback, which never leaves this host` };
  const special = NOT_ROUTABLE_V6.find((r) => overlaps(r.cidr, cidr));
  if (special !== undefined) return { problem: `${cidr.text} overlaps ${special.cidr.text}, which ${special.why}` };
  return cidr;
}

/** True when one of the two ranges contains the other (CIDRs never partly overlap). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const shorter = a.prefix <= b.prefix ? a : b;
  const longer = shorter === a ? b : a;
  return cidrContains(shorter, { family: longer.family, bytes: longer.bytes, text: "" });
}

/** Checks a whole list: one problem per bad entry (`index` into the list), duplicates included. */
export function checkTunnelCidrs(texts: readonly string[]): { cidrs: Cidr[]; problems: { index: number; problem: string }[] } {
  const cidrs: Cidr[] = [];
  const problems: { index: number; problem: string }[] = [];
  texts.forEach((text, index) => {
    const checked = checkTunnelCidr(text);
    if ("problem" in checked) return void problems.push({ index, problem: checked.problem });
    if (cidrs.some((c) => c.text === checked.text)) return void problems.push({ index, problem: `${checked.text} is given twice` });
    cidrs.push(checked);
  });
  return { cidrs, problems };
}

/** The first CIDR that contains `address` (an endpoint the tunnel must reach around itself). */
export function cidrCovering(cidrs: readonly Cidr[], address: string): Cidr | undefined {
  const ip = parseIp(address);
  return ip === undefined ? undefined : cidrs.find((c) => cidrContains(c, ip));
}
