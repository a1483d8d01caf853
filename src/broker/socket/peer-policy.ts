/**
 * Who may take credentials from the broker's unix socket, decided from the kernel's peer
 * credentials (SO_PEERCRED) of each connection. A policy is data that validates and explains
 * itself (STYLE.md §8); `check()` is pure and reads processes only through the `ProcessTable`
 * it is given, so it is tested with fake peers and fake process tables.
 *
 * The uid check is the robust control (reference/aws-credential-protocols.md §6): the kernel
 * records the uid at connect() time and it cannot be forged. The executable and ancestry checks
 * are weaker refinements: they read /proc after the fact, so a peer that exec()s another program
 * or exits (and has its pid reused) between connecting and the check is judged by what is there
 * then. Both fail closed when /proc cannot be read.
 */
import { readFileSync, readlinkSync, realpathSync } from "node:fs";
import { parseStatParentPid, parseStatStartTime } from "../../net/proc-stat.ts";
import { isAbsolute } from "node:path";
import type { PeerCred } from "../../net/peer-credentials.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";

export interface PeerPolicyOptions {
  /** Uids that may connect. Default: only the broker's own uid. */
  readonly allowUids?: readonly number[] | undefined;
  /** If given, the peer's executable (/proc/<pid>/exe) must be one of these canonical paths. */
  readonly allowExes?: readonly string[] | undefined;
  /** If given, the peer must be this process or one of its descendants. */
  readonly descendantOf?: number | undefined;
  /**
   * The start time of `descendantOf` (ProcessTable.startTime) when the policy was made. If
   * given, a process now holding that pid counts only if it started then: the pid of an
   * ancestor that exited may be reused by an unrelated process.
   */
  readonly descendantStart?: string | undefined;
}

/** What `check()` may learn about processes; `procProcessTable()` reads Linux's /proc. */
export interface ProcessTable {
  /** The canonical path of the program `pid` runs, or undefined if it cannot be read. */
  executable(pid: number): string | undefined;
  /** The parent of `pid`, or undefined if it cannot be read (the process is gone, say). */
  parentPid(pid: number): number | undefined;
  /** When `pid` started, in the kernel's own units (opaque: only compared), or undefined. */
  startTime(pid: number): string | undefined;
}

export type PeerDecision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/** An ancestry walk longer than this is given up on. */
const MAX_ANCESTRY_DEPTH = 4096;
const MAX_UID = 0xfffffffe; // (uid_t)-1 means "no uid"

export class PeerPolicy {
  readonly allowUids: readonly number[];
  readonly allowExes: readonly string[];
  readonly descendantOf: number | undefined;
  readonly descendantStart: string | undefined;

  private constructor(allowUids: readonly number[], allowExes: readonly string[], descendantOf: number | undefined, descendantStart: string | undefined) {
    this.allowUids = Object.freeze([...new Set(allowUids)]);
    this.allowExes = Object.freeze([...new Set(allowExes)]);
    this.descendantOf = descendantOf;
    this.descendantStart = descendantStart;
    Object.freeze(this);
  }

  /** Validates `options`; `ownUid` is the broker's uid, the default allow-list. Throws E_USAGE. */
  static create(options: PeerPolicyOptions, ownUid: number): PeerPolicy {
    const uids = options.allowUids && options.allowUids.length > 0 ? options.allowUids : [ownUid];
    for (const uid of uids) {
      if (!Number.isInteger(uid) || uid < 0 || uid > MAX_UID) {
        throw new CredproxyError(ErrorCode.Usage, `Cannot allow uid "${uid}" as it is not a user id: use a number from 0 to ${MAX_UID}`);
      }
    }
    for (const exe of options.allowExes ?? []) {
      if (!isAbsolute(exe)) {
        throw new CredproxyError(ErrorCode.Usage, `Cannot allow executable "${exe}" as the path is not absolute`, {
          hint: `give the full path, e.g. ${Bun.which(exe) ?? `/usr/bin/${exe}`}`,
        });
      }
    }
    const ancestor = options.descendantOf;
    if (ancestor !== undefined && (!Number.isInteger(ancestor) || ancestor < 1)) {
      throw new CredproxyError(ErrorCode.Usage, `Cannot restrict peers to descendants of pid "${ancestor}" as it is not a process id`);
    }
    return new PeerPolicy(uids, options.allowExes ?? [], ancestor, ancestor === undefined ? undefined : options.descendantStart);
  }

  /** One line for logs and `--help`-style output, e.g. `uid 1000; executable /usr/bin/python3.12`. */
  explain(): string {
    const parts = [`${this.allowUids.length === 1 ? "uid" : "uids"} ${this.allowUids.join(", ")}`];
    if (this.allowExes.length > 0) parts.push(`${this.allowExes.length === 1 ? "executable" : "executables"} ${this.allowExes.join(", ")}`);
    if (this.descendantOf !== undefined) parts.push(`process ${this.descendantOf} and its descendants`);
    return parts.join("; ");
  }

  /** Whether `peer` may be served; a refusal says why, in words safe to log and to send back. */
  check(peer: PeerCred, processes: ProcessTable): PeerDecision {
    if (!this.allowUids.includes(peer.uid)) {
      return refuse(`uid ${peer.uid} is not allowed (allowed: ${this.allowUids.join(", ")})`);
    }
    // pid 0: the peer is in a pid namespace we cannot see, so nothing about it can be checked.
    if ((this.allowExes.length > 0 || this.descendantOf !== undefined) && peer.pid <= 0) {
      return refuse("the peer's pid is not visible from the broker's pid namespace");
    }
    if (this.allowExes.length > 0) {
      const exe = processes.executable(peer.pid);
      if (exe === undefined) return refuse(`cannot read the executable of pid ${peer.pid}`);
      if (!this.allowExes.includes(exe)) return refuse(`executable ${exe} is not allowed`);
    }
    if (this.descendantOf !== undefined) {
      if (this.descendantStart !== undefined && processes.startTime(this.descendantOf) !== this.descendantStart) {
        return refuse(`process ${this.descendantOf} has exited, so no process descends from it (its pid may now be another's)`);
      }
      if (!descendsFrom(peer.pid, this.descendantOf, processes)) {
        return refuse(`pid ${peer.pid} is not process ${this.descendantOf} or one of its descendants`);
      }
    }
    return { allowed: true };
  }
}

/** Walks parent pids from `pid` up towards init; `pid === ancestor` counts as a descendant. */
function descendsFrom(pid: number, ancestor: number, processes: ProcessTable): boolean {
  const seen = new Set<number>();
  let current = pid;
  while (!seen.has(current) && seen.size < MAX_ANCESTRY_DEPTH) {
    if (current === ancestor) return true;
    if (current <= 1) return false;
    seen.add(current);
    const parent = processes.parentPid(current);
    if (parent === undefined) return false;
    current = parent;
  }
  return false; // a loop (pids recycled while we read) or an absurdly deep tree
}

function refuse(reason: string): PeerDecision {
  return { allowed: false, reason };
}

/**
 * The process table of Linux's /proc (`root` for tests). Reading another uid's
 * /proc/<pid>/exe needs ptrace access; same-uid peers, the usual case, are always readable.
 */
export function procProcessTable(root = "/proc"): ProcessTable {
  return {
    executable(pid) {
      try {
        // The kernel's own canonical path; " (deleted)" is appended when the file was replaced,
        // which then matches nothing.
        return readlinkSync(`${root}/${pid}/exe`);
      } catch {
        return undefined;
      }
    },
    parentPid(pid) {
      try {
        return parseStatParentPid(readFileSync(`${root}/${pid}/stat`, "utf8"));
      } catch {
        return undefined;
      }
    },
    startTime(pid) {
      try {
        return parseStatStartTime(readFileSync(`${root}/${pid}/stat`, "utf8"));
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * `--allow-exe PATH` as the kernel will report it in /proc/<pid>/exe: absolute, with every
 * symlink resolved (/usr/bin/python3 → /usr/bin/python3.12). Throws E_USAGE if it does not exist.
 */
export function canonicalExecutable(path: string): string {
  if (!isAbsolute(path)) return path; // PeerPolicy.create() explains what is wrong with it
  try {
    return realpathSync(path);
  } catch (error) {
    throw new CredproxyError(ErrorCode.Usage, `Cannot allow executable "${path}" as it does not exist: ${(error as Error).message}`, {
      hint: "give the path of an installed program",
    });
  }
}
