/**
 * The Linux TunDevice: /dev/net/tun (native/linux/tun.ts), configured over rtnetlink
 * (native/linux/netlink.ts: MTU, a /32 address with its peer, the same for IPv6 as a /128 when
 * given, up, one device route per CIDR),
 * read by a Worker doing poll + read (tun-device-reader.ts), written from the calling thread.
 *
 * The device is not persistent, so closing its descriptor removes it and every route through
 * it; a process that dies leaves nothing behind. close() still deletes its routes first, so
 * they are gone even while something else holds the descriptor.
 */
import { ErrnoError, NativeUnavailableError, interfaceIndex } from "../../native/libc.ts";
import { addAddress, addRoute, deleteRoute, setLink, type RouteRequest } from "../../native/linux/netlink.ts";
import { TUN_PATH, closeTun, openTun, writePacket } from "../../native/linux/tun.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { runStep, startReader, tunDevice, type TunStep } from "./tun-device-handle.ts";
import type { TunDevice, TunOptions } from "./tun-device.ts";
import { tunPlan } from "./tun-plan.ts";

const DEFAULT_NAME = "cpx%d";
const EAGAIN = 11;

const PRIVILEGE_HINT =
  "run as root (sudo), or grant CAP_NET_ADMIN: `setcap cap_net_admin+ep credproxy`, or in a container `--cap-add NET_ADMIN --device /dev/net/tun`";

/** Opens a TUN device and configures it; on any failure, whatever was set up is taken down again. */
export async function openLinuxTun(options: TunOptions): Promise<TunDevice> {
  const plan = tunPlan(options);
  const handle = step("open", () => openTun(options.name ?? DEFAULT_NAME), options.name ?? DEFAULT_NAME);
  const routes: RouteRequest[] = [];
  try {
    const ifindex = step("configure", () => interfaceIndex(handle.name), handle.name);
    step("configure", () => setLink({ ifindex, mtu: options.mtu }), handle.name);
    step("configure", () => addAddress({ ifindex, family: 4, address: plan.address, peer: plan.peer, prefixLength: 32 }), handle.name);
    step("configure", () => setLink({ ifindex, up: true }), handle.name);
    // `ip -6 addr add A/128 peer P/128 nodad`, only once the link is up: the kernel re-creates just
    // the local address's route (not the peer's) when a link comes up with IPv6 addresses on it.
    const { address6, peer6 } = plan;
    if (address6 && peer6) step("configure", () => addAddress({ ifindex, family: 6, address: address6, peer: peer6, prefixLength: 128 }), handle.name);
    for (const cidr of plan.routes) {
      const route: RouteRequest = { ifindex, family: cidr.family, destination: cidr.bytes, prefixLength: cidr.prefix };
      step("route", () => addRoute(route), cidr.text);
      routes.push(route);
    }
    const reader = await startReader(handle.fd, options.mtu, "Workers and bun:ffi must be available (Bun 1.4 on Linux with glibc)");
    return tunDevice(handle.name, reader, {
      write: (packet) => writePacket(handle.fd, packet),
      EAGAIN,
      removeRoutes: () => removeRoutes(handle.name, routes),
      closeFd: () => closeTun(handle.fd),
    });
  } catch (error) {
    for (const route of routes) forgetRoute(route);
    closeTun(handle.fd);
    throw error;
  }
}

function step<T>(kind: TunStep, run: () => T, subject: string): T {
  return runStep(kind, subject, run, tunError);
}

/** The CredproxyError for a failed step: the errno decides the message and the hint. Exported for tests. */
export function tunError(kind: TunStep, subject: string, error: unknown): CredproxyError {
  const code = error instanceof ErrnoError ? error.code : undefined;
  const details = { step: kind, subject, errno: code };
  const what = { open: `Cannot create the TUN device ${subject}`, configure: `Cannot configure the TUN device ${subject}`, route: `Cannot route ${subject} through the TUN device` }[kind];
  const fail = (why: string, hint: string) => new CredproxyError(ErrorCode.Platform, `${what}: ${why}`, { cause: error, details, hint });
  if (error instanceof NativeUnavailableError) return fail(error.message, "the tunnel needs Linux with glibc");
  if (error instanceof RangeError) return new CredproxyError(ErrorCode.ConfigInvalid, `${what}: ${error.message}`, { cause: error, details });
  if (code === "EPERM" || code === "EACCES") return fail(`needs root or CAP_NET_ADMIN (the kernel answered ${code})`, PRIVILEGE_HINT);
  if (kind === "open" && code === "ENOENT") {
    return fail(`no ${TUN_PATH}: load the tun module`, "`modprobe tun`; in a container, pass `--device /dev/net/tun`");
  }
  if (kind === "open" && (code === "ENODEV" || code === "ENXIO")) return fail(`the kernel has no TUN driver (${code})`, "`modprobe tun`, or use a kernel built with CONFIG_TUN");
  if (kind === "open" && code === "EBUSY") return fail("an interface with that name exists already", "pick another name, or leave the name out (cpx%d)");
  if (kind === "route" && code === "EEXIST") return fail("a route for it exists already", "remove the existing route (`ip route show` lists it), or leave that CIDR out");
  return fail(error instanceof Error ? error.message : String(error), "see the error above; `credproxy tunnel down --force` cleans up after a crash");
}

/** Deletes a route, ignoring "not there any more" (the device may be gone already). */
function forgetRoute(route: RouteRequest): void {
  try {
    deleteRoute(route);
  } catch (error) {
    if (error instanceof ErrnoError && (error.code === "ESRCH" || error.code === "ENODEV" || error.code === "ENOENT")) return;
    throw error;
  }
}

/** Deletes every route, returning the first failure as the error close() throws. */
function removeRoutes(name: string, routes: readonly RouteRequest[]): Error | undefined {
  let failure: Error | undefined;
  for (const route of routes) {
    try {
      forgetRoute(route);
    } catch (error) {
      failure ??= tunError("route", name, error);
    }
  }
  return failure;
}
