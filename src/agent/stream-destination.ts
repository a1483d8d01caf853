/**
 * Where an agent in socks mode may dial: the stream's name resolved with the system resolver
 * (on EC2, resolv.conf names the VPC resolver, so private zones and *.compute.internal work
 * without any DNS change on the client), then the address checked against --allow-cidr.
 *
 * Without --allow-cidr every address is allowed except the instance's own: loopback, 0.0.0.0/8
 * and link-local (169.254.0.0/16 holds the instance metadata service and its credentials),
 * and IPv4-mapped IPv6 forms of them. The TUN mode cannot reach those (they are not routed
 * from a TUN), and socks mode must not open them either; list one in --allow-cidr to allow it.
 */
import { lookup } from "node:dns/promises";
import { cidrContains, parseCidr, type Cidr } from "../net/cidr.ts";
import { parseIp, type IpAddress } from "../net/ip-address.ts";
import { OpenFailReason, type StreamAddress } from "../tunnel/streams/stream-frames.ts";

const INSTANCE_ONLY = ["127.0.0.0/8", "0.0.0.0/8", "169.254.0.0/16", "::1/128", "::/128", "fe80::/10", "::ffff:0:0/96"].map((text) => parseCidr(text) as Cidr);

export type Resolver = (name: string) => Promise<readonly string[]>;

export type Destination = { readonly ok: true; readonly address: IpAddress } | { readonly ok: false; readonly reason: OpenFailReason; readonly text: string };

/** getaddrinfo through Bun/Node: /etc/resolv.conf and /etc/hosts, as every program on the instance. */
export const systemResolver: Resolver = async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

export async function streamDestination(address: StreamAddress, allowCidrs: readonly Cidr[] | undefined, resolve: Resolver = systemResolver): Promise<Destination> {
  let candidates: IpAddress[];
  if (address.kind === "name") {
    try {
      candidates = (await resolve(address.host)).flatMap((text) => parseIp(text) ?? []);
    } catch (error) {
      const code = (error as { code?: string }).code ?? "";
      return { ok: false, reason: OpenFailReason.NoSuchHost, text: `${address.host} does not resolve at the agent (${code || String(error)})` };
    }
    if (candidates.length === 0) return { ok: false, reason: OpenFailReason.NoSuchHost, text: `${address.host} has no addresses at the agent` };
  } else {
    const ip = parseIp(address.host);
    if (ip === undefined) return { ok: false, reason: OpenFailReason.Failed, text: `${address.host} is not an IP address` };
    candidates = [ip];
  }
  const allowed = candidates.find((ip) => isAllowed(ip, allowCidrs));
  if (allowed !== undefined) return { ok: true, address: allowed };
  const shown = candidates.map((ip) => ip.text).join(", ");
  const name = address.kind === "name" ? `${address.host} (${shown})` : shown;
  const rule = allowCidrs === undefined ? "the instance's own addresses (loopback, link-local) are not dialled without --allow-cidr" : `the agent allows ${allowCidrs.map((c) => c.text).join(" ")}`;
  return { ok: false, reason: OpenFailReason.NotAllowed, text: `${name} is not allowed: ${rule}` };
}

export function isAllowed(ip: IpAddress, allowCidrs: readonly Cidr[] | undefined): boolean {
  if (allowCidrs !== undefined) return allowCidrs.some((cidr) => cidrContains(cidr, ip));
  return !INSTANCE_ONLY.some((cidr) => cidrContains(cidr, ip));
}
