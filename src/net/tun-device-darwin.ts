/**
 * The macOS TunDevice: a utun (native/darwin/utun.ts), its address pair, MTU and routes set with
 * ifconfig and route (native/darwin/utun-commands.ts), read by the same Worker as on Linux
 * (tun-device-reader.ts, which strips the 4-byte address-family header), written from the
 * calling thread with the header added.
 *
 * The utun lives as long as its socket: a process that dies takes the interface and its routes
 * with it. close() still deletes the routes first, as on Linux.
 *
 * UNVERIFIED on a Mac: nothing here has run on macOS yet (native/darwin/utun.test.ts will, the
 * moment a macOS runner exists).
 */
import { ErrnoError, NativeUnavailableError } from "../../native/libc.ts";
import { closeUtun, openUtun, writePacket, type UtunHandle } from "../../native/darwin/utun.ts";
import { IfconfigError } from "../../native/darwin/ifconfig.ts";
import { EAGAIN } from "../../native/darwin/utun-structs.ts";
import { utunCommands, type UtunCommands } from "../../native/darwin/utun-commands.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseCidr, type Cidr } from "./cidr.ts";
import { runStep, startReader, tunDevice, type TunStep } from "./tun-device-handle.ts";
import type { TunDevice, TunOptions } from "./tun-device.ts";
import { ipv4FromBytes, ipv6FromBytes } from "./ip-address.ts";
import { tunPlan } from "./tun-plan.ts";

const PRIVILEGE_HINT = "run it as root: sudo credproxy tunnel up …";
const CLEANUP_HINT = "see the error above; `credproxy tunnel down --force` cleans up after a crash";

/** The system calls and commands, replaceable in tests. */
export interface DarwinTunDeps {
  open(requestedName: string | undefined): UtunHandle;
  close(fd: number): void;
  commands: UtunCommands;
}

const systemDeps = (): DarwinTunDeps => ({ open: openUtun, close: closeUtun, commands: utunCommands() });

/**
 * Opens a utun and configures it; on any failure, whatever was set up is taken down again.
 * A `name` of the form utunN asks for that unit; any other name is ignored (macOS names utuns
 * itself), and so the next free one is taken.
 */
export async function openDarwinTun(options: TunOptions, deps: DarwinTunDeps = systemDeps()): Promise<TunDevice> {
  const plan = tunPlan(options);
  const handle = step("open", () => deps.open(options.name), options.name ?? "utun");
  const added: Cidr[] = [];
  try {
    const addressing = { address: ipv4FromBytes(plan.address).text, peer: ipv4FromBytes(plan.peer).text, mtu: options.mtu };
    step("configure", () => deps.commands.configure(handle.name, addressing), handle.name);
    const routes = [...plan.routes];
    if (plan.address6 && plan.peer6) {
      const address6 = ipv6FromBytes(plan.address6).text;
      step("configure", () => deps.commands.configure6(handle.name, address6), handle.name);
      // No peer form for inet6 here: a /128 route to the agent's address does that job.
      routes.unshift(parseCidr(`${ipv6FromBytes(plan.peer6).text}/128`) as Cidr);
    }
    for (const route of routes) {
      step("route", () => deps.commands.addRoute(handle.name, route), route.text);
      added.push(route);
    }
    const reader = await startReader(handle.fd, options.mtu, "Workers and bun:ffi must be available (Bun 1.4 on macOS)");
    return tunDevice(handle.name, reader, {
      write: (packet) => writePacket(handle.fd, packet),
      EAGAIN,
      removeRoutes: () => removeRoutes(deps.commands, handle.name, added),
      closeFd: () => deps.close(handle.fd),
    });
  } catch (error) {
    removeRoutes(deps.commands, handle.name, added);
    deps.close(handle.fd);
    throw error;
  }
}

function step<T>(kind: TunStep, run: () => T, subject: string): T {
  return runStep(kind, subject, run, darwinTunError);
}

/** Deletes every route, returning the first failure as the error close() throws. */
function removeRoutes(commands: UtunCommands, name: string, routes: readonly Cidr[]): Error | undefined {
  let failure: Error | undefined;
  for (const route of routes) {
    try {
      commands.deleteRoute(name, route);
    } catch (error) {
      failure ??= darwinTunError("route", route.text, error);
    }
  }
  return failure;
}

/** The CredproxyError for a failed step, from the errno or the tool's failure kind. Exported for tests. */
export function darwinTunError(kind: TunStep, subject: string, error: unknown): CredproxyError {
  const errno = error instanceof ErrnoError ? error.code : undefined;
  const tool = error instanceof IfconfigError ? error.kind : undefined;
  const details = { step: kind, subject, errno, tool };
  const what = { open: `Cannot create the utun device`, configure: `Cannot configure the utun device ${subject}`, route: `Cannot route ${subject} through the utun device` }[kind];
  const fail = (why: string, hint: string) => new CredproxyError(ErrorCode.Platform, `${what}: ${why}`, { cause: error, details, hint });
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof NativeUnavailableError) return fail(message, "the macOS tunnel needs /usr/lib/libSystem.B.dylib through bun:ffi");
  if (errno === "EPERM" || errno === "EACCES") return fail(`needs root (the kernel answered ${errno})`, PRIVILEGE_HINT);
  if (tool === "not-permitted") return fail(`needs root (${message})`, PRIVILEGE_HINT);
  if (kind === "open" && errno === "EBUSY") return fail(`${subject} is in use by another program`, "leave the name out, so the next free utun is taken");
  if (kind === "open" && errno === "ENOENT") return fail("this macOS has no utun kernel control (com.apple.net.utun_control)", CLEANUP_HINT);
  if (tool === "missing") return fail(message, "the tunnel runs /sbin/ifconfig and /sbin/route, which every macOS has: check that /sbin is intact");
  if (kind === "route" && tool === "exists") return fail("a route for it exists already", "remove the existing route (`netstat -rn` lists it), or leave that CIDR out");
  return fail(message, CLEANUP_HINT);
}
