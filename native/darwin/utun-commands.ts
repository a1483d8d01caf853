/**
 * A utun's address, MTU and routes through the system's own /sbin/ifconfig and /sbin/route, as
 * the loopback aliases do (ifconfig.ts): the commands are argv arrays run without a shell, so a
 * CIDR or interface name can never become a command. The argv builders are pure and tested.
 *
 *     ifconfig utun7 inet 100.64.0.1 100.64.0.2 netmask 255.255.255.255 mtu 1400 up
 *     ifconfig utun7 inet6 fd63:7078:1::3 prefixlen 128     (then a /128 route to the agent's)
 *     route -n add -net 10.99.0.0/24 -interface utun7
 *     route -n add -inet6 -net fd00:99::/64 -interface utun7
 *     route -n delete -net 10.99.0.0/24 -interface utun7
 *     route -n get -net 10.99.0.0/24        (its "interface:" line says where it goes)
 *
 * Every call is synchronous (spawnSync), so a delete can run from a process "exit" hook; each
 * throws IfconfigError (with its `kind`) when the tool fails. Root is needed to change anything.
 *
 * UNVERIFIED on a Mac: the forms follow ifconfig(8) and route(8) and what other utun VPNs run
 * (reference/ssm-tunnel.md §5); the netmask makes the /32 explicit, as the address pair is a
 * point-to-point link whose only on-link address is the peer.
 */
import { IFCONFIG_PATH, IfconfigError, spawnTool, type IfconfigResult, type IfconfigRunner } from "./ifconfig.ts";

export const ROUTE_PATH = "/sbin/route";
const DEFAULT_TIMEOUT_MS = 5000;

/** The address pair and MTU of a utun. */
export interface UtunAddressing {
  address: string;
  peer: string;
  mtu: number;
}

/** A route's destination: family and canonical CIDR text ("10.99.0.0/24"). */
export interface UtunRoute {
  family: 4 | 6;
  text: string;
}

/** `ifconfig NAME inet LOCAL PEER netmask 255.255.255.255 mtu MTU up`. */
export function utunAddressArgv(name: string, { address, peer, mtu }: UtunAddressing): string[] {
  return [IFCONFIG_PATH, name, "inet", address, peer, "netmask", "255.255.255.255", "mtu", String(mtu), "up"];
}

/** `ifconfig NAME inet6 ADDRESS prefixlen 128`: the IPv6 address beside the IPv4 pair. */
export function utunAddress6Argv(name: string, address6: string): string[] {
  return [IFCONFIG_PATH, name, "inet6", address6, "prefixlen", "128"];
}

/** `route -n add|delete [-inet6] -net CIDR -interface NAME`. */
export function routeArgv(action: "add" | "delete", route: UtunRoute, name: string): string[] {
  return [ROUTE_PATH, "-n", action, ...familyArgs(route), "-net", route.text, "-interface", name];
}

/** `route -n get [-inet6] -net CIDR`: the route the kernel would use for it. */
export function routeGetArgv(route: UtunRoute): string[] {
  return [ROUTE_PATH, "-n", "get", ...familyArgs(route), "-net", route.text];
}

/** `ifconfig NAME`: exits non-zero when there is no such interface. */
export function interfaceShowArgv(name: string): string[] {
  return [IFCONFIG_PATH, name];
}

function familyArgs(route: UtunRoute): string[] {
  return route.family === 6 ? ["-inet6"] : [];
}

/** The interface in `route -n get` output ("  interface: utun7"), if it names one. */
export function routeInterfaceOf(stdout: string): string | undefined {
  return /^\s*interface:\s*(\S+)\s*$/m.exec(stdout)?.[1];
}

/** What the utun code asks of ifconfig and route; `utunCommands()` gives the real ones. */
export interface UtunCommands {
  configure(name: string, addressing: UtunAddressing): void;
  /** Adds the IPv6 address (after configure). */
  configure6(name: string, address6: string): void;
  addRoute(name: string, route: UtunRoute): void;
  /** Deletes one; a route that is not there any more is not an error. */
  deleteRoute(name: string, route: UtunRoute): void;
  /** The interface the kernel routes `route` through now, or undefined (no such route). */
  routeInterface(route: UtunRoute): string | undefined;
  /** Whether interface `name` exists. */
  exists(name: string): boolean;
}

/** The commands run by `run` (default: spawnSync with LC_ALL=C, SIGKILL after `timeoutMs`, default 5000). */
export function utunCommands(options: { run?: IfconfigRunner | undefined; timeoutMs?: number | undefined } = {}): UtunCommands {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const run = options.run ?? ((path, args) => spawnTool(path, args, timeoutMs));
  const attempt = (argv: string[]): IfconfigResult => {
    try {
      return run(argv[0]!, argv.slice(1));
    } catch (cause) {
      throw new IfconfigError(argv, { cause, timeoutMs });
    }
  };
  const call = (argv: string[]): string => {
    const result = attempt(argv);
    if (result.exitCode !== 0) throw new IfconfigError(argv, { exitCode: result.exitCode, stderr: result.stderr });
    return result.stdout;
  };
  return {
    configure: (name, addressing) => void call(utunAddressArgv(name, addressing)),
    configure6: (name, address6) => void call(utunAddress6Argv(name, address6)),
    addRoute: (name, route) => void call(routeArgv("add", route, name)),
    deleteRoute(name, route) {
      try {
        call(routeArgv("delete", route, name));
      } catch (error) {
        if (!(error instanceof IfconfigError && error.kind === "not-found")) throw error;
      }
    },
    routeInterface(route) {
      const result = attempt(routeGetArgv(route));
      return result.exitCode === 0 ? routeInterfaceOf(result.stdout) : undefined;
    },
    exists: (name) => attempt(interfaceShowArgv(name)).exitCode === 0,
  };
}
