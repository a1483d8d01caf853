/**
 * Loopback aliases on Linux: addresses on `lo` through rtnetlink (native/linux/netlink.ts), no
 * `ip` binary needed. Adding and deleting need CAP_NET_ADMIN in the network namespace.
 */
import { readFileSync } from "node:fs";
import { ErrnoError, NativeUnavailableError, getuid, interfaceIndex } from "../../native/libc.ts";
import { RTN_LOCAL, RT_SCOPE_HOST, addAddress, deleteAddress, listAddresses, routeType, type AddressRequest } from "../../native/linux/netlink.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { LoopbackBackend, LoopbackHintText, LoopbackRequest } from "./loopback-backend.ts";

/** The rtnetlink calls the Linux backend makes; tests pass a fake. */
export interface LoopbackSystem {
  interfaceIndex(name: string): number;
  /** Every address in the network namespace, on any interface. */
  listAddresses(): { family: 4 | 6; address: Uint8Array }[];
  addAddress(request: AddressRequest): void;
  deleteAddress(request: AddressRequest): void;
  /** Whether the kernel now routes `address` to this host (an RTN_LOCAL route), so it can be bound and reached. */
  routesLocally(family: 4 | 6, address: Uint8Array): boolean;
  /** Whether net.ipv6.conf.<ifname>.disable_ipv6 is 1 (then IPv6 adds fail with EACCES). */
  ipv6Disabled(ifname: string): boolean;
  getuid(): number;
}

const LOOPBACK = "lo";

/**
 * `lo` through `system`. An address present on any interface counts as present; IPv4 ones are
 * added with host scope. The kernel ACKs an IPv6 address before it inserts its local route
 * (that happens on a workqueue), so `routesLocally` asks for the route rather than assuming.
 */
export function linuxLoopbackBackend(system: LoopbackSystem, hints: LoopbackHintText): LoopbackBackend {
  let ifindex = 0;
  const requestOf = (r: LoopbackRequest): AddressRequest => {
    const request: AddressRequest = { ifindex, family: r.family, address: r.bytes, prefixLength: r.prefixLength };
    if (r.family === 4) request.scope = RT_SCOPE_HOST;
    return request;
  };
  return {
    interfaceName: LOOPBACK,
    list() {
      try {
        ifindex = system.interfaceIndex(LOOPBACK);
        return system.listAddresses().map((a) => ({ family: a.family, bytes: a.address }));
      } catch (error) {
        throw new CredproxyError(ErrorCode.Platform, `Cannot read the addresses of the loopback interface ${LOOPBACK}: ${reason(error)}`, {
          cause: error,
          // Without libc (a musl-only image) the fix is the loopback URL, not a capability.
          hint: error instanceof NativeUnavailableError ? hints.fallback : hints.hint,
        });
      }
    },
    add(r) {
      try {
        system.addAddress(requestOf(r));
        return true;
      } catch (error) {
        if (error instanceof ErrnoError && error.code === "EEXIST") return false;
        throw addError(r, error, system, hints.hint);
      }
    },
    delete(r) {
      try {
        system.deleteAddress(requestOf(r));
      } catch (error) {
        // Someone else took it away already: the goal is met.
        if (error instanceof ErrnoError && (error.code === "EADDRNOTAVAIL" || error.code === "ENODEV")) return;
        throw error;
      }
    },
    routesLocally: (r) => system.routesLocally(r.family, r.bytes),
  };
}

/** The real rtnetlink calls. Opens nothing until a call is made. */
export function nativeLoopbackSystem(): LoopbackSystem {
  return {
    interfaceIndex,
    listAddresses: () => listAddresses(),
    addAddress,
    deleteAddress,
    routesLocally: (family, address) => routeType(family, address) === RTN_LOCAL,
    ipv6Disabled: (ifname) => readFileSync(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, "utf8").trim() === "1",
    getuid,
  };
}

function addError(r: LoopbackRequest, error: unknown, system: LoopbackSystem, hint: string): CredproxyError {
  const what = `${r.text}/${r.prefixLength}`;
  const code = error instanceof ErrnoError ? error.code : undefined;
  const details = { address: what, interface: LOOPBACK, errno: code, uid: safely(() => system.getuid()) };
  if (code === "EACCES" && r.family === 6 && safely(() => system.ipv6Disabled(LOOPBACK))) {
    return new CredproxyError(
      ErrorCode.Platform,
      `Cannot add ${what} to the loopback interface ${LOOPBACK} as IPv6 is disabled on it: net.ipv6.conf.${LOOPBACK}.disable_ipv6 is 1`,
      {
        cause: error,
        details,
        hint: `enable it (docker run --sysctl net.ipv6.conf.${LOOPBACK}.disable_ipv6=0, or in compose sysctls: [net.ipv6.conf.${LOOPBACK}.disable_ipv6=0]), or leave ${r.text} out`,
      },
    );
  }
  if (code === "EPERM" || code === "EACCES") {
    return new CredproxyError(
      ErrorCode.Platform,
      `Cannot add ${what} to the loopback interface ${LOOPBACK} as credproxy lacks CAP_NET_ADMIN: the kernel answered ${code}`,
      { cause: error, details, hint },
    );
  }
  if (r.family === 6 && (code === "EAFNOSUPPORT" || code === "EOPNOTSUPP")) {
    return new CredproxyError(ErrorCode.Platform, `Cannot add ${what} to the loopback interface ${LOOPBACK} as this kernel has no IPv6`, {
      cause: error,
      details,
      hint: `leave ${r.text} out`,
    });
  }
  return new CredproxyError(ErrorCode.Platform, `Cannot add ${what} to the loopback interface ${LOOPBACK}: ${reason(error)}`, {
    cause: error,
    details,
    hint,
  });
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The value, or undefined when getting it throws (these only decorate an error). */
function safely<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
}
