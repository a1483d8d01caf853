/**
 * Who counts as "this host" for a listener: loopback (127/8, ::1, and their IPv4-mapped forms)
 * and addresses of this host's own interfaces. On Linux a client connecting to an address on
 * lo (the IMDS or ECS metadata alias) arrives from that address, so the aliases count too.
 * A peer in another network namespace arrives from its own address and does not; it cannot
 * pose as a local address either, since the SYN-ACK to a local source never leaves the host
 * and the handshake cannot complete.
 *
 * Used by the broker's IMDS server, serve's ECS metadata listeners and serve's /health detail.
 */
import { networkInterfaces } from "node:os";
import { formatAddress, parseAddress } from "../net/loopback-parse-address.ts";
import type { Handler, Routes } from "./listen.ts";

export interface LocalPeers {
  /** Whether `peer` (as Bun's requestIP reports it) is this host. */
  has(peer: string | undefined): boolean;
}

/** Whether `peer` is loopback or one of `accepted` (canonical text). */
export function isLocalPeer(peer: string, accepted: ReadonlySet<string>): boolean {
  const address = canonicalAddress(peer);
  if (address === undefined) return false;
  return isLoopback(address) || accepted.has(address);
}

/** Exactly loopback and `addresses` (the IMDS server: its alias, nothing else of the host). */
export function fixedLocalPeers(addresses: Iterable<string>): LocalPeers {
  const accepted = canonicalSet(addresses);
  return { has: (peer) => peer !== undefined && isLocalPeer(peer, accepted) };
}

export interface HostPeersOptions {
  /** Addresses to accept besides the interfaces' (e.g. aliases about to be added). */
  readonly extra?: readonly string[] | undefined;
  /**
   * An unknown peer makes the interface list be read again, at most this often (default
   * 10 s), so an address added after start is picked up without a syscall per request.
   */
  readonly refreshMs?: number | undefined;
  /** For tests: the interface list and the clock. */
  readonly interfaces?: (() => ReturnType<typeof networkInterfaces>) | undefined;
  readonly now?: (() => number) | undefined;
}

/** Loopback, `extra` and every address of this host's interfaces (read now, refreshed lazily). */
export function hostLocalPeers(options: HostPeersOptions = {}): LocalPeers {
  const read = options.interfaces ?? networkInterfaces;
  const now = options.now ?? Date.now;
  const refreshMs = options.refreshMs ?? 10_000;
  let accepted = new Set<string>();
  let readAt = 0;
  const refresh = (): void => {
    const addresses = [...(options.extra ?? [])];
    for (const list of Object.values(read())) for (const info of list ?? []) addresses.push(info.address);
    accepted = canonicalSet(addresses);
    readAt = now();
  };
  refresh();
  return {
    has(peer) {
      if (peer === undefined) return false;
      if (peer === "127.0.0.1" || peer === "::1" || accepted.has(peer)) return true;
      if (isLocalPeer(peer, accepted)) return true;
      if (now() - readAt < refreshMs) return false;
      refresh();
      return isLocalPeer(peer, accepted);
    },
  };
}

/** `next`, for local peers only; everyone else gets `refuse(peer)`. */
export function withLocalPeer(next: Handler, peers: LocalPeers, refuse: (peer: string) => Response): Handler {
  return (req, server) => {
    const peer = server.requestIP(req)?.address;
    return peers.has(peer) ? next(req, server) : refuse(peer ?? "unknown");
  };
}

/** Every handler of `routes` wrapped by `guard` (Bun routes bypass the fetch handler). */
export function guardRoutes(routes: Routes, guard: (next: Handler) => Handler): Routes {
  const out: Routes = {};
  for (const [path, methods] of Object.entries(routes)) {
    out[path] = Object.fromEntries(Object.entries(methods).map(([method, handler]) => [method, guard(handler)]));
  }
  return out;
}

/** Canonical text of an address, with IPv4-mapped IPv6 (`::ffff:127.0.0.1`) unwrapped; undefined if unparseable. */
export function canonicalAddress(text: string): string | undefined {
  try {
    const { family, bytes } = parseAddress(text.replace(/%.*$/, ""));
    const mapped = family === 6 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    return mapped ? formatAddress(4, bytes.subarray(12)) : formatAddress(family, bytes);
  } catch {
    return undefined;
  }
}

function isLoopback(canonical: string): boolean {
  return canonical === "::1" || /^127\.\d+\.\d+\.\d+$/.test(canonical);
}

/** Canonical forms of `addresses`, minus the wildcards (which no peer has). */
function canonicalSet(addresses: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const text of addresses) {
    const address = canonicalAddress(text);
    if (address !== undefined && address !== "0.0.0.0" && address !== "::") out.add(address);
  }
  return out;
}
