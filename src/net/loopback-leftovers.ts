/**
 * Removes the loopback addresses that dead credproxy runs recorded (loopback-state.ts) and
 * left behind: at the start of every run that adds addresses, and in `credproxy cleanup`.
 * Addresses nobody recorded, and those of runs still alive, are never touched.
 */
import type { LoopbackBackend } from "./loopback-backend.ts";
import { parseAddress, formatAddress } from "./loopback-parse-address.ts";
import { claimRun, recordedRuns, type RecordedRun } from "./loopback-state.ts";

export interface LeftoverResult {
  address: string;
  prefixLength: number;
  /** The run that recorded it. */
  pid: number;
  /** removed (or would be, with dryRun) / still owned by a live run / already gone / could not be removed. */
  outcome: "removed" | "owned" | "gone" | "failed";
  error?: unknown;
}

export interface LeftoverOptions {
  /** The state directory; default stateDirectory(). */
  dir?: string | undefined;
  /** Say what would happen, change nothing. */
  dryRun?: boolean | undefined;
  /** /proc (tests). */
  proc?: string | undefined;
}

/** Handles every run recorded in this network namespace; `backend.list()` must have been called. */
export function removeLeftovers(backend: LoopbackBackend, present: { family: 4 | 6; bytes: Uint8Array }[], options: LeftoverOptions = {}): LeftoverResult[] {
  const here = new Set(present.map((p) => formatAddress(p.family, p.bytes)));
  const results: LeftoverResult[] = [];
  for (const run of recordedRuns(options.dir, options.proc)) {
    if (run.interface !== backend.interfaceName) continue;
    if (run.owner === "alive") {
      for (const a of run.addresses) results.push({ address: a.address, prefixLength: a.prefixLength, pid: run.pid, outcome: "owned" });
      continue;
    }
    results.push(...removeRun(backend, run, here, options.dryRun === true));
  }
  return results;
}

function removeRun(backend: LoopbackBackend, run: RecordedRun, here: Set<string>, dryRun: boolean): LeftoverResult[] {
  const claim = dryRun ? { claimed: true, release() {} } : claimRun(run);
  if (!claim.claimed) return []; // another cleaner has it
  const results: LeftoverResult[] = [];
  for (const { address, prefixLength } of run.addresses) {
    const base = { address, prefixLength, pid: run.pid };
    let parsed;
    try {
      parsed = parseAddress(`${address}/${prefixLength}`);
    } catch {
      continue; // not an address credproxy would have written
    }
    if (!here.has(formatAddress(parsed.family, parsed.bytes))) {
      results.push({ ...base, outcome: "gone" });
      continue;
    }
    if (dryRun) {
      results.push({ ...base, outcome: "removed" });
      continue;
    }
    try {
      backend.delete({ ...parsed, text: address });
      results.push({ ...base, outcome: "removed" });
    } catch (error) {
      results.push({ ...base, outcome: "failed", error });
    }
  }
  // A record whose addresses could not all be removed stays for a run with more privilege.
  claim.release(results.some((r) => r.outcome === "failed"));
  return results;
}
