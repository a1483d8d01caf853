/**
 * `tunnel down --force`: what a killed tunnel process may have left, from its state record.
 * The TUN device is not persistent, so the kernel removes it and its routes when the process
 * dies; they survive only while something else still holds the device open. If the recorded
 * interface is still there, is a TUN device, and no live tunnel claims it, its routes and the
 * device are deleted over rtnetlink. What `--dns` set up goes first (macOS resolver files;
 * resolved settings of a link still there). Then the record, socket and log go.
 */
import { existsSync } from "node:fs";
import { ErrnoError, interfaceIndex } from "../../native/libc.ts";
import { deleteLink, deleteRoute } from "../../native/linux/netlink.ts";
import { parseCidr } from "../net/cidr.ts";
import { removeTunnelDnsLeftovers } from "./dns/tunnel-dns.ts";
import { findTunnels, removeTunnelFiles, type TunnelRecord } from "./tunnel-state.ts";

export interface LeftoverOutcome {
  /** "removed": we deleted it; "gone": nothing was left; "kept": a live tunnel owns it now. */
  readonly device: "removed" | "gone" | "kept";
  readonly routesRemoved: readonly string[];
  /** DNS settings removed (resolver files, a link's resolved settings). */
  readonly dnsRemoved: readonly string[];
}

export function removeTunnelLeftovers(dir: string, record: TunnelRecord): LeftoverOutcome {
  const owner = findTunnels(dir).find((t) => t.alive && t.record.name !== record.name && t.record.interface === record.interface);
  const dnsRemoved = record.dns === undefined ? [] : removeTunnelDnsLeftovers(record.dns, { linkOwnedElsewhere: owner !== undefined });
  let outcome: LeftoverOutcome = { device: "gone", routesRemoved: [], dnsRemoved };
  if (owner !== undefined) outcome = { device: "kept", routesRemoved: [], dnsRemoved };
  else if (record.interface !== "" && existsSync(`/sys/class/net/${record.interface}/tun_flags`)) {
    const ifindex = indexOf(record.interface);
    if (ifindex !== undefined) {
      const routesRemoved: string[] = [];
      for (const text of record.routes) {
        const cidr = parseCidr(text);
        if ("problem" in cidr) continue;
        try {
          deleteRoute({ ifindex, family: cidr.family, destination: cidr.bytes, prefixLength: cidr.prefix });
          routesRemoved.push(cidr.text);
        } catch (error) {
          if (!(error instanceof ErrnoError)) throw error;
        }
      }
      deleteLink(ifindex);
      outcome = { device: "removed", routesRemoved, dnsRemoved };
    }
  }
  removeTunnelFiles(dir, record.name, { log: true });
  return outcome;
}

function indexOf(name: string): number | undefined {
  try {
    return interfaceIndex(name);
  } catch (error) {
    if (error instanceof ErrnoError) return undefined;
    throw error;
  }
}
