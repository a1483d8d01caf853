/**
 * One registry for everything the helpers start or create: child processes, servers and
 * temporary directories. Every test file that uses the helpers calls `afterAll(cleanupAll)`.
 *
 * bun test runs files one after another in one process, so cleaning everything at the end
 * of a file never touches another file's resources.
 *
 * Backstops, because bun test (1.4.5) fires neither process "exit" nor "beforeExit":
 * - long-lived children are started through `setpriv --pdeathsig KILL` (see `orphanGuard`),
 *   so the kernel kills them when the test process dies, however it dies;
 * - temp dir names carry the creating pid, and directories left by dead test processes are
 *   removed when this module is next loaded.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

type Task = { name: string; run: () => Promise<void> | void };

const tasks = new Set<Task>();
const children = new Set<Subprocess>();
const dirs = new Set<string>();

/** Registers an async cleanup; returns a function that unregisters it (after a manual stop). */
export function onCleanup(name: string, run: () => Promise<void> | void): () => void {
  const task: Task = { name, run };
  tasks.add(task);
  return () => {
    tasks.delete(task);
  };
}

/** Tracks a child so cleanupAll and the exit hook can kill it; untracked once it exits. */
export function trackChild(proc: Subprocess): void {
  children.add(proc);
  void proc.exited.then(
    () => children.delete(proc),
    () => children.delete(proc),
  );
}

export function trackDir(path: string): void {
  dirs.add(path);
}

/** Child processes that are still running (for leak assertions). */
export function liveChildren(): Subprocess[] {
  return [...children].filter((p) => p.exitCode === null && p.signalCode === null);
}

/** Kills a child: SIGTERM, then SIGKILL if it has not exited after graceMs. Resolves on exit. */
export async function killChild(proc: Subprocess, signal: NodeJS.Signals | number = "SIGTERM", graceMs = 3000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    proc.kill(signal);
  } catch {
    // already gone
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    proc.exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    try {
      proc.kill("SIGKILL");
    } catch {
      // already gone
    }
    await proc.exited;
  }
}

/** Runs every registered cleanup (newest first), kills remaining children, removes temp dirs. */
export async function cleanupAll(): Promise<void> {
  const errors: unknown[] = [];
  for (const task of [...tasks].reverse()) {
    tasks.delete(task);
    try {
      await task.run();
    } catch (err) {
      errors.push(new Error(`cleanup ${task.name} failed: ${String(err)}`));
    }
  }
  await Promise.all([...children].map((p) => killChild(p)));
  children.clear();
  for (const dir of dirs) {
    await rm(dir, { recursive: true, force: true }).catch((err: unknown) => errors.push(err));
  }
  dirs.clear();
  if (errors.length > 0) throw new AggregateError(errors, "cleanup had errors");
}

/**
 * Prefixes `cmd` so that the child gets SIGKILL when this process dies (Linux prctl
 * PR_SET_PDEATHSIG via util-linux setpriv, which then execs the command: same pid). Where
 * setpriv is missing the command runs unguarded.
 */
const SETPRIV = process.platform === "linux" ? Bun.which("setpriv") : null;
export function orphanGuard(cmd: string[]): string[] {
  return SETPRIV ? [SETPRIV, "--pdeathsig", "KILL", "--", ...cmd] : cmd;
}

// Harmless where it fires (plain bun scripts); kept for them.
process.on("exit", () => {
  for (const proc of children) {
    try {
      proc.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

/** `<prefix>p<pid>-XXXXXX`: the pid lets a later run remove what a dead run left behind. */
const STALE = /^credproxy-.*-p(\d+)-[A-Za-z0-9]{6}$/;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function removeStaleDirs(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = STALE.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      try {
        rmSync(join(tmpdir(), name), { recursive: true, force: true });
      } catch {
        // someone else's, or already gone
      }
    }
  }
}
removeStaleDirs();

/** A fresh directory under the OS temp dir, removed by cleanupAll. */
export async function tempDir(prefix = "credproxy-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}p${process.pid}-`));
  trackDir(dir);
  return dir;
}

/** Synchronous tempDir, for helpers that must not be async. */
export function tempDirSync(prefix = "credproxy-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}p${process.pid}-`));
  trackDir(dir);
  return dir;
}
