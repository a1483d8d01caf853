/**
 * Extra addresses on the loopback interface, so that `serve` can own the ECS metadata address
 * (169.254.170.2, and 169.254.170.23 / fd00:ec2::23) in its own network namespace without an
 * `ip` binary: `addLoopbackAliases()` adds them through rtnetlink and hands back a `remove()`
 * that takes away exactly the ones it added.
 *
 * Linux only; needs CAP_NET_ADMIN in the network namespace. The only importer of native/.
 */
import { readFileSync } from "node:fs";
import { ErrnoError, NativeUnavailableError, getuid, interfaceIndex } from "../../native/libc.ts";
import {
  RTN_LOCAL,
  RT_SCOPE_HOST,
  addAddress,
  deleteAddress,
  listAddresses,
  routeType,
  type AddressRequest,
} from "../../native/linux/netlink.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { createLogger } from "../log.ts";

export interface LoopbackAlias {
  /** Canonical text: "169.254.170.2", "fd00:ec2::23". */
  address: string;
  prefixLength: number;
  /** True when this call added it (and `remove()` will take it away); false when it was already there. */
  added: boolean;
}

export interface ParsedAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** As written after "/", else the full length (32 or 128). */
  prefixLength: number;
}

/** What addLoopbackAliases() needs from the system; tests pass a fake. */
export interface LoopbackSystem {
  platform: string;
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

export interface LoopbackAliasOptions {
  /** credproxy's own port, to fill in the fallback URL in error hints; "<port>" when absent. */
  fallbackPort?: number | undefined;
  /** Told about an address `remove()` could not take away (it never throws). Default: a warning on stderr. */
  onRemoveError?: ((alias: LoopbackAlias, error: unknown) => void) | undefined;
  /** How long to wait for an added address to become routable (IPv6 is asynchronous). Default 2000 ms. */
  readyTimeoutMs?: number | undefined;
  system?: LoopbackSystem | undefined;
}

const LOOPBACK = "lo";
const CONFIG_KEY = "server.ecs_metadata";

/**
 * Adds each address to `lo`, as a host address (/32, /128) unless a prefix is written. An
 * address already present on any interface is left alone and reported with `added: false`;
 * `remove()` takes away only what was added, is idempotent, never throws and is synchronous,
 * so it can run from a signal handler or a process "exit" hook.
 *
 * All addresses are parsed before anything changes, and a failure part-way removes the ones
 * already added. Throws CredproxyError E_PLATFORM without CAP_NET_ADMIN and off Linux.
 *
 * @example
 * const { remove } = await addLoopbackAliases(["169.254.170.2"]);
 * process.on("exit", remove);
 */
export async function addLoopbackAliases(
  addresses: string[],
  options: LoopbackAliasOptions = {},
): Promise<{ aliases: LoopbackAlias[]; remove(): void }> {
  const wanted = new Map<string, ParsedAddress>(); // by address: the first prefix written wins
  for (const text of addresses) {
    const parsed = parseAddress(text);
    const key = formatAddress(parsed.family, parsed.bytes);
    if (!wanted.has(key)) wanted.set(key, parsed);
  }
  const system = options.system ?? nativeSystem();
  const hint = fallbackHint(options.fallbackPort);
  const first = wanted.values().next().value;
  if (first === undefined) return { aliases: [], remove: () => {} };

  if (system.platform !== "linux") {
    throw new CredproxyError(
      ErrorCode.Platform,
      `Cannot add ${withPrefix(first)} to the loopback interface as ${CONFIG_KEY} is Linux-only: current platform is "${system.platform}"`,
      { hint: `drop ${CONFIG_KEY} and ${pointAtLoopback(options.fallbackPort)}` },
    );
  }

  let ifindex: number;
  let present: { family: 4 | 6; address: Uint8Array }[];
  try {
    ifindex = system.interfaceIndex(LOOPBACK);
    present = system.listAddresses();
  } catch (error) {
    throw new CredproxyError(ErrorCode.Platform, `Cannot read the addresses of the loopback interface ${LOOPBACK}: ${reason(error)}`, {
      cause: error,
      // Without libc (a musl-only image) the fix is the loopback URL, not a capability.
      hint: error instanceof NativeUnavailableError ? `drop ${CONFIG_KEY} and ${pointAtLoopback(options.fallbackPort)}` : hint,
    });
  }

  const aliases: LoopbackAlias[] = [];
  const ours: { alias: LoopbackAlias; request: AddressRequest }[] = [];
  let removed = false;
  const onRemoveError = options.onRemoveError ?? defaultRemoveError;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    for (const { alias, request } of ours.reverse()) {
      try {
        system.deleteAddress(request);
      } catch (error) {
        // Someone else took it away already: the goal is met.
        if (error instanceof ErrnoError && (error.code === "EADDRNOTAVAIL" || error.code === "ENODEV")) continue;
        try {
          onRemoveError(alias, error);
        } catch {
          // A reporting failure must not break a shutdown path.
        }
      }
    }
  };

  for (const parsed of wanted.values()) {
    const address = formatAddress(parsed.family, parsed.bytes);
    const alreadyThere = present.some((p) => p.family === parsed.family && sameBytes(p.address, parsed.bytes));
    const request: AddressRequest = { ifindex, family: parsed.family, address: parsed.bytes, prefixLength: parsed.prefixLength };
    if (parsed.family === 4) request.scope = RT_SCOPE_HOST;
    let added = false;
    if (!alreadyThere) {
      try {
        system.addAddress(request);
        added = true;
      } catch (error) {
        if (!(error instanceof ErrnoError && error.code === "EEXIST")) {
          remove();
          throw addError(parsed, error, system, hint);
        }
      }
    }
    const alias: LoopbackAlias = { address, prefixLength: parsed.prefixLength, added };
    aliases.push(alias);
    if (added) ours.push({ alias, request });
  }
  // The kernel ACKs an IPv6 address before it inserts its local route (that happens on a
  // workqueue), so a listener or client using it at once can get ENETUNREACH. Wait for it.
  const readyTimeoutMs = options.readyTimeoutMs ?? 2000;
  for (const { request } of ours) {
    const ready = await waitUntil(() => system.routesLocally(request.family, request.address), readyTimeoutMs);
    if (ready.ok) continue;
    remove();
    const what = `${formatAddress(request.family, request.address)}/${request.prefixLength}`;
    const why = ready.error === undefined ? "" : `: ${reason(ready.error)}`;
    throw new CredproxyError(
      ErrorCode.Platform,
      `Cannot use ${what} on the loopback interface ${LOOPBACK} as the kernel did not route it locally within ${readyTimeoutMs} ms${why}`,
      { cause: ready.error, hint },
    );
  }
  return { aliases: aliases.map((a) => ({ ...a })), remove };
}

/**
 * Parses "169.254.170.2", "fd00:ec2::23", "[fd00:ec2::23]" or either with "/<prefix>".
 * Strict: no leading zeros in IPv4 parts, no zone ids. Throws CredproxyError E_CONFIG_INVALID.
 */
export function parseAddress(text: string): ParsedAddress {
  const invalid = (why: string) =>
    new CredproxyError(ErrorCode.ConfigInvalid, `Cannot use "${text}" as an IP address as ${why}`, {
      hint: 'write an IPv4 or IPv6 address, optionally with a prefix length: "169.254.170.2", "fd00:ec2::23/128"',
    });
  const slash = text.indexOf("/");
  let host = slash === -1 ? text : text.slice(0, slash);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const isV6 = host.includes(":");
  const bytes = isV6 ? parseIpv6(host) : parseIpv4(host);
  if (!bytes) throw invalid(isV6 ? "it is not a valid IPv6 address" : "it is not a valid IPv4 address");
  const family = isV6 ? 6 : 4;
  const max = bytes.byteLength * 8;
  let prefixLength = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(digits) || Number(digits) > max) throw invalid(`the prefix length must be 0 to ${max}`);
    prefixLength = Number(digits);
  }
  return { family, bytes, prefixLength };
}

/** Canonical text of an address: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as "::"). */
export function formatAddress(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) return Array.from(bytes).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // ::ffff:a.b.c.d keeps its embedded IPv4 address (RFC 5952 §5).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${Array.from(bytes.subarray(12)).join(".")}`;
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never shortened
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return Uint8Array.from(parts.map(Number));
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (!v4) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groupsOf(halves[0] ?? "");
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function addError(parsed: ParsedAddress, error: unknown, system: LoopbackSystem, hint: string): CredproxyError {
  const what = withPrefix(parsed);
  const code = error instanceof ErrnoError ? error.code : undefined;
  const details = { address: what, interface: LOOPBACK, errno: code, uid: safeUid(system) };
  if (code === "EACCES" && parsed.family === 6 && safeIpv6Disabled(system)) {
    return new CredproxyError(
      ErrorCode.Platform,
      `Cannot add ${what} to the loopback interface ${LOOPBACK} as IPv6 is disabled on it: net.ipv6.conf.${LOOPBACK}.disable_ipv6 is 1`,
      {
        cause: error,
        details,
        hint: `enable it (docker run --sysctl net.ipv6.conf.${LOOPBACK}.disable_ipv6=0, or in compose sysctls: [net.ipv6.conf.${LOOPBACK}.disable_ipv6=0]), or leave ${formatAddress(6, parsed.bytes)} out`,
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
  if (parsed.family === 6 && (code === "EAFNOSUPPORT" || code === "EOPNOTSUPP")) {
    return new CredproxyError(ErrorCode.Platform, `Cannot add ${what} to the loopback interface ${LOOPBACK} as this kernel has no IPv6`, {
      cause: error,
      details,
      hint: `leave ${formatAddress(6, parsed.bytes)} out`,
    });
  }
  return new CredproxyError(ErrorCode.Platform, `Cannot add ${what} to the loopback interface ${LOOPBACK}: ${reason(error)}`, {
    cause: error,
    details,
    hint,
  });
}

/** Polls `check` (1, 2, 4 … 50 ms apart) until it is true, it throws, or time runs out. */
async function waitUntil(check: () => boolean, timeoutMs: number): Promise<{ ok: boolean; error?: unknown }> {
  const deadline = performance.now() + timeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    try {
      if (check()) return { ok: true };
    } catch (error) {
      return { ok: false, error };
    }
    if (performance.now() >= deadline) return { ok: false };
    await Bun.sleep(Math.min(pause, Math.max(0, deadline - performance.now())));
  }
}

function fallbackHint(port: number | undefined): string {
  // Docker gives added capabilities to uid 0 only (no ambient capabilities for other users).
  return `run with CAP_NET_ADMIN (docker run --cap-add NET_ADMIN --user 0, or in compose cap_add: [NET_ADMIN] with user: "0:0"; Docker does not pass added capabilities to other users), or drop ${CONFIG_KEY} and ${pointAtLoopback(port)}`;
}

function pointAtLoopback(port: number | undefined): string {
  return `point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:${port ?? "<port>"}/v1/credentials`;
}

function withPrefix(parsed: ParsedAddress): string {
  return `${formatAddress(parsed.family, parsed.bytes)}/${parsed.prefixLength}`;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function safeUid(system: LoopbackSystem): number | undefined {
  try {
    return system.getuid();
  } catch {
    return undefined;
  }
}

function safeIpv6Disabled(system: LoopbackSystem): boolean {
  try {
    return system.ipv6Disabled(LOOPBACK);
  } catch {
    return false;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

function defaultRemoveError(alias: LoopbackAlias, error: unknown): void {
  createLogger().warn("Cannot remove a loopback alias credproxy added", {
    address: `${alias.address}/${alias.prefixLength}`,
    error: reason(error),
  });
}

function nativeSystem(): LoopbackSystem {
  return {
    platform: process.platform,
    interfaceIndex,
    listAddresses: () => listAddresses(),
    addAddress,
    deleteAddress,
    routesLocally: (family, address) => routeType(family, address) === RTN_LOCAL,
    ipv6Disabled: (ifname) => readFileSync(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, "utf8").trim() === "1",
    getuid,
  };
}
