/**
 * Where the agent's DNS forwarder sends the client's queries: `--dns-upstream`, else the first
 * nameserver of the instance's /etc/resolv.conf (on EC2 that is the VPC resolver, or
 * systemd-resolved's 127.0.0.53 in front of it), else the VPC resolver's fixed address
 * 169.254.169.253, which every VPC answers on (Amazon Route 53 Resolver, "AmazonProvidedDNS").
 */
import { readFileSync } from "node:fs";
import { parseIp } from "../net/ip-address.ts";

export const VPC_RESOLVER = "169.254.169.253";
export const RESOLV_CONF = "/etc/resolv.conf";

export interface DnsUpstream {
  readonly host: string;
  readonly port: number;
}

/** The `nameserver` addresses of a resolv.conf, in order (a `%zone` suffix dropped). */
export function resolvConfNameservers(text: string): string[] {
  const servers: string[] = [];
  for (const line of text.split("\n")) {
    const [keyword, value] = line.replace(/[#;].*$/, "").trim().split(/\s+/);
    if (keyword !== "nameserver" || value === undefined) continue;
    const address = value.replace(/%.*$/, "");
    if (parseIp(address) !== undefined) servers.push(address);
  }
  return servers;
}

/** The upstream to use when --dns-upstream is not given. */
export function instanceResolver(readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): DnsUpstream {
  let text = "";
  try {
    text = readFile(RESOLV_CONF);
  } catch {
    // No resolv.conf: the VPC resolver's well-known address.
  }
  return { host: resolvConfNameservers(text)[0] ?? VPC_RESOLVER, port: 53 };
}
