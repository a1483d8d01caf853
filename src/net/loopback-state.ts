/**
 * A record of the loopback addresses credproxy added, so that an exit no handler sees (SIGKILL,
 * a crash, an OOM kill) does not leave 169.254.169.254 or 169.254.170.2 behind for good: the
 * next run, or `credproxy cleanup`, removes the addresses of dead runs, and only those.
 *
 * One file per run, `<dir>/loopback-<pid>-<starttime>.json`, written only by that run
 * (temp file + rename), so two runs at once never write the same file and no lock is needed;
 * whoever removes a dead run's addresses first claims its file by renaming it, so two cleaners
 * never act on one record (a claim whose claimer died counts as a record again). A file names the network and pid namespaces it was written in: a run
 * in another network namespace never touches it, and one in another pid namespace cannot judge
 * whether its owner lives, so leaves it alone. The owner's start time (field 22 of
 * /proc/PID/stat) tells a reused pid from the owner.
 *
 * The directory: $CREDPROXY_RUNTIME_DIR, else /run/credproxy for root (addresses belong to the
 * whole namespace, however root was reached), else $XDG_RUNTIME_DIR/credproxy; created 0700.
 * Linux only. When it cannot be written (a read-only root) credproxy warns once and goes on.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseStatStartTime } from "./proc-stat.ts";

/** One address a run added. */
export interface RecordedAddress {
  address: string;
  prefixLength: number;
}

/** What one run's file says. */
export interface RunRecord {
  pid: number;
  startTime: string;
  netns: string;
  pidns: string;
  interface: string;
  addresses: RecordedAddress[];
}

/** A run's record and what is known about its owner. */
export interface RecordedRun extends RunRecord {
  file: string;
  /** "alive": the owner runs (or cannot be judged: another pid namespace); "dead": it is gone. */
  owner: "alive" | "dead";
}

/**
 * This run's own record. Each call rewrites the file and never throws; a failed `record` is
 * told to `onError` (once), a failed `forget` to nobody.
 */
export interface RunState {
  /** Adds `address` to the record (call before adding it to the interface). */
  record(address: RecordedAddress): void;
  /** Drops it again (after removing it, or when it turned out not to be ours). */
  forget(address: string): void;
}

export interface LoopbackStateOptions {
  /** Default: stateDirectory(). Undefined disables the record. */
  dir?: string | undefined;
  /** Told once about the first write that failed. */
  onError?: ((error: unknown, dir: string) => void) | undefined;
  /** /proc (tests). */
  proc?: string | undefined;
}

const PREFIX = "loopback-";
const CLAIMED = /\.claimed-(\d+)$/;

/** Where records live, or undefined where there is none (not Linux, no runtime directory). */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): string | undefined {
  if (env.CREDPROXY_RUNTIME_DIR) return env.CREDPROXY_RUNTIME_DIR;
  if (process.platform !== "linux") return undefined;
  if (uid === 0) return "/run/credproxy";
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, "credproxy") : undefined;
}

/** This process's record of addresses it adds on `interfaceName`. */
export function runState(interfaceName: string, options: LoopbackStateOptions = {}): RunState {
  const dir = options.dir ?? stateDirectory();
  const proc = options.proc ?? "/proc";
  const me = dir === undefined ? undefined : identity(proc, "self");
  if (dir === undefined || me === undefined) return { record() {}, forget() {} };
  const file = join(dir, `${PREFIX}${process.pid}-${me.startTime}.json`);
  const addresses = new Map<string, RecordedAddress>();
  let warned = false;
  const fail = (error: unknown): void => {
    if (warned) return;
    warned = true;
    try {
      options.onError?.(error, dir);
    } catch {
      // reporting must not break an add or a shutdown
    }
  };
  const save = (report: boolean): void => {
    try {
      if (addresses.size === 0) return unlinkQuietly(file);
      ensureDirectory(dir);
      const record: RunRecord = { pid: process.pid, ...me, interface: interfaceName, addresses: [...addresses.values()] };
      const temp = `${file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(record) + "\n", { mode: 0o600 });
      renameSync(temp, file);
    } catch (error) {
      // A failed forget is harmless (the next run finds the owner dead and the address gone)
      // and expected once privileges are dropped after start: only a failed record is told.
      if (report) fail(error);
    }
  };
  return {
    record(a) {
      addresses.set(a.address, { address: a.address, prefixLength: a.prefixLength });
      save(true);
    },
    forget(address) {
      if (addresses.delete(address)) save(false);
    },
  };
}

/** Every readable record in `dir` made in this network namespace, with its owner's state. */
export function recordedRuns(dir: string | undefined = stateDirectory(), proc = "/proc"): RecordedRun[] {
  const me = dir === undefined ? undefined : identity(proc, "self");
  if (dir === undefined || me === undefined) return [];
  let names: string[];
  try {
    // A record a cleaner claimed and never released (it was killed meanwhile) counts again.
    names = readdirSync(dir).filter((n) => n.startsWith(PREFIX) && (n.endsWith(".json") || abandonedClaim(proc, n)));
  } catch {
    return [];
  }
  const runs: RecordedRun[] = [];
  for (const name of names.sort()) {
    const file = join(dir, name);
    const record = readRecord(file);
    if (!record || record.netns !== me.netns) continue;
    const alive = record.pidns !== me.pidns || ownerAlive(proc, record.pid, record.startTime);
    runs.push({ ...record, file, owner: alive ? "alive" : "dead" });
  }
  return runs;
}

/**
 * Takes a dead run's record for this process alone (renames it aside): false when another
 * cleaner got there first. Call `release(keep)` once its addresses are handled: keep puts the
 * record back (some address could not be removed).
 */
export function claimRun(run: RecordedRun): { claimed: boolean; release(keep: boolean): void } {
  const claimed = `${run.file.replace(CLAIMED, "")}.claimed-${process.pid}`;
  try {
    renameSync(run.file, claimed);
  } catch {
    return { claimed: false, release() {} };
  }
  const release = (keep: boolean): void => {
    try {
      if (keep) renameSync(claimed, run.file.replace(CLAIMED, ""));
      else unlinkQuietly(claimed);
    } catch {
      // the next run or cleanup finds it again
    }
  };
  return { claimed: true, release };
}

/** A claimed record whose claimer is gone. */
function abandonedClaim(proc: string, name: string): boolean {
  const claim = CLAIMED.exec(name);
  if (!claim || !name.slice(0, claim.index).endsWith(".json")) return false;
  try {
    readFileSync(`${proc}/${claim[1]}/stat`, "utf8");
    return false;
  } catch (error) {
    return (error as { code?: string }).code === "ENOENT";
  }
}

function readRecord(file: string): RunRecord | undefined {
  try {
    // Only our own regular files: a planted record must not make root delete an address.
    const stat = lstatSync(file);
    if (!stat.isFile() || stat.uid !== (process.geteuid?.() ?? stat.uid)) return undefined;
    const value = JSON.parse(readFileSync(file, "utf8")) as Partial<RunRecord>;
    if (typeof value.pid !== "number" || typeof value.startTime !== "string" || typeof value.netns !== "string") return undefined;
    if (typeof value.pidns !== "string" || typeof value.interface !== "string" || !Array.isArray(value.addresses)) return undefined;
    const addresses = value.addresses.filter(
      (a): a is RecordedAddress => typeof a?.address === "string" && typeof a.prefixLength === "number",
    );
    return { pid: value.pid, startTime: value.startTime, netns: value.netns, pidns: value.pidns, interface: value.interface, addresses };
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` still is the process that started at `startTime`. Only a missing pid or another
 * start time count as dead: /proc/PID/stat is world-readable, and any other failure to read it
 * must not get a live run's address removed.
 */
function ownerAlive(proc: string, pid: number, startTime: string): boolean {
  let stat: string;
  try {
    stat = readFileSync(`${proc}/${pid}/stat`, "utf8");
  } catch (error) {
    return (error as { code?: string }).code !== "ENOENT";
  }
  const now = parseStatStartTime(stat);
  return now === undefined || now === startTime;
}

/** This process's ("self") namespaces and start time, or undefined when /proc cannot tell. */
function identity(proc: string, pid: string): { startTime: string; netns: string; pidns: string } | undefined {
  try {
    const startTime = parseStatStartTime(readFileSync(`${proc}/${pid}/stat`, "utf8"));
    if (startTime === undefined) return undefined;
    return { startTime, netns: readlinkSync(`${proc}/${pid}/ns/net`), pidns: readlinkSync(`${proc}/${pid}/ns/pid`) };
  } catch {
    return undefined;
  }
}

/** Creates `dir` 0700 and refuses one that others could write into or that is not ours. */
function ensureDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  const euid = process.geteuid?.();
  if (!stat.isDirectory() || (euid !== undefined && stat.uid !== euid) || (stat.mode & 0o022) !== 0) {
    throw new Error(`${dir} is not a directory owned by uid ${euid} and writable only by it`);
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw error;
  }
}
