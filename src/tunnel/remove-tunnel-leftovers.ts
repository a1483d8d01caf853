/**
 * `tunnel down --force`: what a killed tunnel process may have left, from its state record.
 * Unless a live tunnel claims the recorded interface, src/net/tun-leftovers.ts removes what is
 * left of the device and its routes the platform's way (rtnetlink on Linux; route on macOS).
 * What `--dns` set up goes first (macOS resolver files; resolved settings of a link still
 * there). Then the record, socket and log go.
 */
import { removeTunLeftovers, type TunLeftoverOptions, type TunLeftovers } from "../net/tun-leftovers.ts";
import { removeTunnelDnsLeftovers } from "./dns/tunnel-dns.ts";
import { findTunnels, removeTunnelFiles, type TunnelRecord } from "./tunnel-state.ts";

export interface LeftoverOutcome {
  /** "removed": we deleted it; "gone": nothing was left; "held": still open elsewhere (macOS), its routes removed; "kept": a live tunnel owns it now. */
  readonly device: TunLeftovers["device"] | "kept";
  readonly routesRemoved: readonly string[];
  /** DNS settings removed (resolver files, a link's resolved settings). */
  readonly dnsRemoved: readonly string[];
}

/** `options` picks the platform and its commands (tests); by default this machine's. */
export async function removeTunnelLeftovers(dir: string, record: TunnelRecord, options: TunLeftoverOptions = {}): Promise<LeftoverOutcome> {
  // `tunnel socks` records interface "socks": it had no device, routes or DNS to leave behind.
  if (record.interface === "socks") {
    removeTunnelFiles(dir, record.name, { log: true });
    return { device: "gone", routesRemoved: [], dnsRemoved: [] };
  }
  const owner = findTunnels(dir).find((t) => t.alive && t.record.name !== record.name && t.record.interface === record.interface);
  const dnsRemoved = record.dns === undefined ? [] : removeTunnelDnsLeftovers(record.dns, { linkOwnedElsewhere: owner !== undefined });
  const tun = owner !== undefined ? { device: "kept" as const, routesRemoved: [] } : await removeTunLeftovers(record.interface, record.routes, options);
  const outcome: LeftoverOutcome = { ...tun, dnsRemoved };
  removeTunnelFiles(dir, record.name, { log: true });
  return outcome;
}
