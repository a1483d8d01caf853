/**
 * `serve` gives up root once its addresses are added and its ports bound (server.user): it
 * becomes server.user (default 65532:65532 in ECS-metadata mode) and keeps CAP_NET_ADMIN alone,
 * and only when it added an address it must remove on exit. Linux only.
 *
 * `planPrivilegeDrop()` runs before anything is added, so a drop that cannot work fails while
 * nothing is half-applied; `dropPrivileges()` runs after binding, on the main JS thread.
 */
import { readdirSync, readFileSync } from "node:fs";
import {
  CAP_NET_ADMIN, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, capMask, capNames, hasCap, parseProcStatus, type CapSets,
} from "../../native/linux/capability-sets.ts";
import {
  clearAmbientCapabilities, dropBoundingSet, effectiveUid, setKeepCapabilities, setNoNewPrivileges, setThreadCapabilities,
  switchUser, threadCapabilities,
} from "../../native/linux/privileges.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";

/** server.user as the loader resolved it; undefined when the config does not set it. */
export type UserSetting = { readonly uid: number; readonly gid: number } | undefined;

/** The image's non-root user, and what ECS-metadata mode drops to when run as root. */
export const DEFAULT_USER = { uid: 65532, gid: 65532 } as const;

/** What the process holds now (main thread). */
export interface PrivilegeState {
  readonly euid: number;
  readonly caps: CapSets;
}

export type PrivilegePlan =
  /** Nothing to give up: not root and no capability. */
  | { readonly kind: "none" }
  /** server.user is root: stay as is, with a warning. */
  | { readonly kind: "keep-root"; readonly caps: CapSets }
  /** Root: become uid/gid, keeping at most CAP_NET_ADMIN. */
  | { readonly kind: "switch"; readonly uid: number; readonly gid: number; readonly caps: CapSets }
  /** Not root but with capabilities (file or ambient): keep at most CAP_NET_ADMIN. */
  | { readonly kind: "capabilities"; readonly uid: number; readonly caps: CapSets };

const KEEP_ROOT_HINT = 'set server.user to a uid:gid (default 65532:65532) so that serve drops root after binding';

/**
 * Decides, before anything is bound or added, what serve will give up. Throws E_PLATFORM when
 * the drop cannot work (root without CAP_SETUID/CAP_SETGID; server.user another non-root uid).
 * As root, only ECS-metadata mode or an explicit server.user drops (plain serve as root is left
 * as it was).
 */
export function planPrivilegeDrop(user: UserSetting, ecsMetadata: boolean, state: PrivilegeState): PrivilegePlan {
  const held = state.caps.permitted | state.caps.effective;
  if (state.euid === 0) {
    if (user?.uid === 0) return { kind: "keep-root", caps: state.caps };
    if (user === undefined && !ecsMetadata) return { kind: "none" };
    const target = user ?? DEFAULT_USER;
    const missing = [CAP_SETUID, CAP_SETGID].filter((cap) => !hasCap(state.caps.effective, cap));
    if (missing.length > 0) {
      throw new CredproxyError(ErrorCode.Platform, `Cannot drop root to server.user ${target.uid}:${target.gid} after binding as credproxy lacks ${capNames(capMask(missing)).join(" and ")}`, {
        hint: 'add those capabilities (docker run --cap-add SETUID --cap-add SETGID, or compose cap_add: [NET_ADMIN, SETUID, SETGID]); serve gives them up after binding. Or set server.user: root to keep root',
      });
    }
    return { kind: "switch", uid: target.uid, gid: target.gid, caps: state.caps };
  }
  if (user !== undefined && user.uid !== state.euid) {
    throw new CredproxyError(ErrorCode.Platform, `Cannot become server.user ${user.uid}:${user.gid} as credproxy runs as uid ${state.euid}, not root`, {
      hint: `start it as root (it drops to server.user after binding), or set server.user to ${state.euid} or remove it`,
    });
  }
  return held === 0n ? { kind: "none" } : { kind: "capabilities", uid: state.euid, caps: state.caps };
}

/** The main thread's uid and capabilities, read through capget. */
export function currentPrivileges(): PrivilegeState {
  return { euid: effectiveUid(), caps: threadCapabilities() };
}

/**
 * Carries out `plan` on the calling (main JS) thread. `keepNetAdmin`: keep CAP_NET_ADMIN, for
 * removing added addresses on exit. Throws E_PLATFORM if any step fails; the caller must stop.
 */
export function dropPrivileges(plan: PrivilegePlan, keepNetAdmin: boolean, log: Logger): void {
  if (plan.kind === "none") return;
  if (plan.kind === "keep-root") {
    log.warn("server.user is root: serve keeps uid 0 and every capability it started with while it runs, so a flaw in credproxy or a library it uses would act as root", {
      capabilities: capNames(plan.caps.effective), hint: KEEP_ROOT_HINT,
    });
    return;
  }
  const keep = keepNetAdmin && hasCap(plan.caps.permitted, CAP_NET_ADMIN) ? capMask([CAP_NET_ADMIN]) : 0n;
  const target = plan.kind === "switch" ? `${plan.uid}:${plan.gid}` : `uid ${plan.uid}`;
  let boundingDropped = false;
  try {
    // Per thread: the bounding set (needs CAP_SETPCAP) and the ambient set of the main thread.
    if (hasCap(plan.caps.effective, CAP_SETPCAP)) {
      dropBoundingSet(keep);
      boundingDropped = true;
    }
    clearAmbientCapabilities();
    if (plan.kind === "switch") {
      // Only the main thread keeps its permitted set across the uid change; the other threads
      // (GC, I/O) lose every capability there.
      setKeepCapabilities(keep !== 0n);
      switchUser(plan.uid, plan.gid);
      setKeepCapabilities(false);
    }
    setThreadCapabilities({ effective: keep, permitted: keep, inheritable: 0n });
    setNoNewPrivileges();
    verify(plan, keep);
  } catch (error) {
    throw new CredproxyError(ErrorCode.Platform, `Cannot drop privileges to ${target} after binding: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      hint: 'check server.user and the capabilities credproxy starts with (as root it needs CAP_SETUID and CAP_SETGID); server.user: root keeps root instead',
    });
  }
  log.info("dropped privileges after binding", {
    user: target,
    capabilities: capNames(keep),
    dropped: capNames((plan.caps.permitted | plan.caps.effective) & ~keep),
    bounding_set: boundingDropped ? capNames(keep) : "unchanged (no CAP_SETPCAP)",
    no_new_privs: true,
  });
  const holding = plan.kind === "capabilities" ? threadsHoldingMore(keep) : 0;
  if (holding > 0) {
    log.warn("other threads keep the capabilities credproxy started with: Linux lets a process change only its own thread's capabilities without a uid change", {
      threads: holding, hint: "give credproxy only CAP_NET_ADMIN, or start it as root so it can drop to server.user",
    });
  }
}

/** Reads the result back; throws when the kernel did not do what was asked. */
function verify(plan: Exclude<PrivilegePlan, { kind: "none" | "keep-root" }>, keep: bigint): void {
  const caps = threadCapabilities();
  if (caps.effective !== keep || caps.permitted !== keep || caps.inheritable !== 0n) {
    throw new Error(`capabilities are still ${capNames(caps.permitted | caps.effective).join(",") || "none"}`);
  }
  if (plan.kind !== "switch") return;
  for (const task of taskStatuses()) {
    if (task.uid.some((id) => id !== plan.uid) || task.gid.some((id) => id !== plan.gid)) {
      throw new Error(`a thread still runs as uid ${task.uid.join("/")} gid ${task.gid.join("/")}`);
    }
  }
}

/** How many threads hold a capability outside `keep` (they are not the main thread). */
function threadsHoldingMore(keep: bigint): number {
  return taskStatuses().filter((t) => ((t.permitted | t.effective) & ~keep) !== 0n).length;
}

function taskStatuses() {
  const statuses = [];
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      statuses.push(parseProcStatus(readFileSync(`/proc/self/task/${tid}/status`, "utf8")));
    } catch {
      // the thread ended in between
    }
  }
  return statuses;
}
