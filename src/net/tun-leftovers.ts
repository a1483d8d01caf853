/**
 * What a killed tunnel's TUN device may have left, removed the platform's way (for `tunnel down
 * --force`, through src/tunnel/remove-tunnel-leftovers.ts). On both platforms the kernel removes
 * the device and its routes when the last descriptor on it closes, so something is left only
 * while another process still holds it.
 *
 * - Linux: if the interface is still there and is a TUN device, its routes and the device are
 *   deleted over rtnetlink.
 * - macOS: a utun cannot be destroyed from outside its socket, and its number is reused as soon
 *   as it is free (another VPN may own utunN by now). So only routes that still go through the
 *   recorded interface are deleted (`route -n get` says where each goes), and the interface is
 *   reported as "held" if it still exists. UNVERIFIED on a Mac.
 */
import { existsSync } from "node:fs";
import type { UtunCommands } from "../../native/darwin/utun-commands.ts";
import { parseCidr, type Cidr } from "./cidr.ts";

export interface TunLeftovers {
  /** "removed": we deleted it; "gone": nothing was left; "held": still open elsewhere (macOS), its routes removed. */
  readonly device: "removed" | "gone" | "held";
  readonly routesRemoved: readonly string[];
}

export interface TunLeftoverOptions {
  platform?: NodeJS.Platform | undefined;
  /** macOS: the ifconfig/route commands (tests pass utunCommands() over a fake runner). */
  commands?: UtunCommands | undefined;
}

/** Removes what interface `name` and its recorded `routes` left; routes that do not parse are skipped. */
export async function removeTunLeftovers(name: string, routes: readonly string[], options: TunLeftoverOptions = {}): Promise<TunLeftovers> {
  const cidrs = routes.map(parseCidr).filter((cidr): cidr is Cidr => !("problem" in cidr));
  if (name === "") return { device: "gone", routesRemoved: [] };
  if ((options.platform ?? process.platform) === "darwin") {
    const commands = options.commands ?? (await import("../../native/darwin/utun-commands.ts")).utunCommands();
    if (!commands.exists(name)) return { device: "gone", routesRemoved: [] };
    const routesRemoved: string[] = [];
    for (const cidr of cidrs) {
      if (commands.routeInterface(cidr) !== name) continue;
      commands.deleteRoute(name, cidr);
      routesRemoved.push(cidr.text);
    }
    return { device: "held", routesRemoved };
  }
  return removeLinuxLeftovers(name, cidrs);
}

async function removeLinuxLeftovers(name: string, cidrs: readonly Cidr[]): Promise<TunLeftovers> {
  if (!existsSync(`/sys/class/net/${name}/tun_flags`)) return { device: "gone", routesRemoved: [] };
  const { ErrnoError, interfaceIndex } = await import("../../native/libc.ts");
  const { deleteLink, deleteRoute } = await import("../../native/linux/netlink.ts");
  let ifindex: number;
  try {
    ifindex = interfaceIndex(name);
  } catch (error) {
    if (error instanceof ErrnoError) return { device: "gone", routesRemoved: [] };
    throw error;
  }
  const routesRemoved: string[] = [];
  for (const cidr of cidrs) {
    try {
      deleteRoute({ ifindex, family: cidr.family, destination: cidr.bytes, prefixLength: cidr.prefix });
      routesRemoved.push(cidr.text);
    } catch (error) {
      if (!(error instanceof ErrnoError)) throw error;
    }
  }
  deleteLink(ifindex);
  return { device: "removed", routesRemoved };
}
