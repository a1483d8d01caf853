/**
 * Split DNS through systemd-resolved (Linux): the tunnel's interface gets the agent's address as
 * its DNS server and each zone as a routing-only domain (`~zone`), and is never the default
 * route for DNS, so resolved sends only the zones' queries there and every other name goes where
 * it went before (ssm-tunnel.md §6). The argv is built here (tested) and run without a shell.
 * resolved forgets a link's settings when the link goes, which a TUN does when its process
 * dies, so a crash leaves nothing behind; `revert` on exit is for a clean stop.
 */
import { existsSync, readlinkSync } from "node:fs";

export const RESOLVECTL = "resolvectl";
/** Created by systemd-resolved at start: its varlink socket and its stub resolv.conf. */
const RESOLVED_RUN_FILES = ["/run/systemd/resolve/io.systemd.Resolve", "/run/systemd/resolve/stub-resolv.conf"];

/** The commands that give `iface` the DNS server and the routing-only domains, in order. */
export function resolvedSetCommands(iface: string, server: string, zones: readonly string[]): string[][] {
  return [
    [RESOLVECTL, "dns", iface, server],
    [RESOLVECTL, "domain", iface, ...zones.map((z) => `~${z}`)],
    [RESOLVECTL, "default-route", iface, "false"],
  ];
}

/** Takes back everything resolvedSetCommands set on `iface`. */
export function resolvedRevertCommand(iface: string): string[] {
  return [RESOLVECTL, "revert", iface];
}

export interface ResolvedProbe {
  readonly exists: (path: string) => boolean;
  readonly readlink: (path: string) => string;
  readonly which: (command: string) => string | null;
}

const systemProbe: ResolvedProbe = { exists: existsSync, readlink: readlinkSync, which: (c) => Bun.which(c) };

/**
 * Whether resolved runs and serves this process's network: its run files, resolvectl on PATH,
 * and the same network namespace as pid 1 (resolved lives there; from another namespace an
 * interface name would point it at a different link).
 */
export function systemdResolvedHere(probe: ResolvedProbe = systemProbe): boolean {
  if (!RESOLVED_RUN_FILES.some((f) => probe.exists(f)) || probe.which(RESOLVECTL) === null) return false;
  try {
    return probe.readlink("/proc/self/ns/net") === probe.readlink("/proc/1/ns/net");
  } catch {
    // pid 1's namespace is unreadable without privileges; then assume the usual single one.
    return true;
  }
}
