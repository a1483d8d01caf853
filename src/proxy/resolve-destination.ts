/**
 * From a canonical target to the exact addresses the proxy may dial. The name is resolved
 * ONCE, every answer is classified, and the caller dials only the addresses returned here,
 * never the name again, so DNS rebinding between check and dial has no window.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import type { Cidr } from "../net/cidr.ts";
import { parseIp, type IpAddress } from "../net/ip-address.ts";
import { checkDestination, type SelfAddress } from "./address-class.ts";
import type { CanonicalTarget } from "./canonical-host.ts";

/** Resolves a host name to address strings, in the resolver's order. */
export type Lookup = (host: string) => Promise<readonly string[]>;

export const DEFAULT_RESOLVE_TIMEOUT_MS = 5_000;

/** The system resolver (getaddrinfo), answers in the order it gives them. */
export const systemLookup: Lookup = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((answer) => answer.address);

export type ResolveResult =
  | { ok: true; addresses: readonly IpAddress[] }
  | { ok: false; code: "address-refused" | "resolve-failed" | "resolve-timeout"; reason: string };

export interface ResolveOptions {
  lookup?: Lookup | undefined;
  allow: readonly Cidr[];
  self: readonly SelfAddress[];
  timeoutMs?: number;
}

/** The allowed addresses of `target`, in answer order, or why there are none. */
export async function resolveDestination(target: CanonicalTarget, options: ResolveOptions): Promise<ResolveResult> {
  const check = (address: IpAddress) => checkDestination(address, target.port, options);
  if (target.kind !== "name") {
    const address = parseIp(target.host);
    if (!address) return { ok: false, code: "resolve-failed", reason: `${target.host} is not a canonical IP address` };
    const verdict = check(address);
    if (!verdict.ok) return { ok: false, code: "address-refused", reason: `${target.authority} is refused: ${verdict.reason}` };
    return { ok: true, addresses: [address] };
  }
  const answers = await lookupWithTimeout(target.host, options.lookup ?? systemLookup, options.timeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS);
  if (!answers.ok) return answers;
  const allowed: IpAddress[] = [];
  const refused: string[] = [];
  for (const text of new Set(answers.addresses)) {
    const address = parseIp(text);
    if (!address) {
      refused.push(`${JSON.stringify(text)} (malformed)`);
      continue;
    }
    const verdict = check(address);
    if (verdict.ok) {
      if (!allowed.some((a) => a.text === address.text)) allowed.push(address);
    } else refused.push(`${address.text} (${verdict.class})`);
  }
  if (allowed.length > 0) return { ok: true, addresses: allowed };
  return {
    ok: false,
    code: "address-refused",
    reason: `${target.host} resolves only to refused addresses: ${refused.join(", ")}`,
  };
}

async function lookupWithTimeout(
  host: string,
  lookup: Lookup,
  timeoutMs: number,
): Promise<{ ok: true; addresses: readonly string[] } | { ok: false; code: "resolve-failed" | "resolve-timeout"; reason: string }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const answers = await Promise.race([lookup(host), timeout]);
    if (answers === "timeout") {
      return { ok: false, code: "resolve-timeout", reason: `resolving ${host} took longer than ${timeoutMs} ms` };
    }
    if (answers.length === 0) return { ok: false, code: "resolve-failed", reason: `${host} has no addresses` };
    return { ok: true, addresses: answers };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = typeof code === "string" ? code : error instanceof Error ? error.message : String(error);
    return { ok: false, code: "resolve-failed", reason: `could not resolve ${host}: ${why}` };
  } finally {
    clearTimeout(timer);
  }
}
