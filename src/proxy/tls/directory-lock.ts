/**
 * A lock file made with O_EXCL, so two credproxy processes starting at once do not both
 * generate a CA (each would then trust a different one). The file holds the owner's pid: a
 * lock whose owner is gone is stale and taken over; one whose owner lives is waited for,
 * watching the directory for its removal, up to a deadline.
 */
import { closeSync, existsSync, openSync, readFileSync, unlinkSync, watch, writeSync } from "node:fs";
import { join } from "node:path";
import { CredproxyError, ErrorCode } from "../../errors.ts";

/** Runs `work` while holding `dir/name`; throws CredproxyError when a live owner holds it past `timeoutMs`. */
export async function withDirectoryLock<T>(dir: string, name: string, timeoutMs: number, work: () => T): Promise<T> {
  const path = join(dir, name);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (tryCreate(path)) break;
    const owner = ownerPid(path);
    if (owner !== undefined && !processAlive(owner)) {
      removeIfPresent(path);
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0 || !(await removed(dir, path, left))) {
      throw new CredproxyError(ErrorCode.ConfigInvalid, `${path} is held by another credproxy (pid ${owner ?? "unknown"})`, {
        hint: `if no other credproxy is generating the proxy CA, delete ${path}`,
      });
    }
  }
  try {
    return work();
  } finally {
    removeIfPresent(path);
  }
}

function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The pid in the lock, or undefined while the owner has not written it yet (or it is gone). */
function ownerPid(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Resolves true once `path` is gone, false at the deadline. The watch is started before
 * the check so a removal between the two is not missed; a slow re-check covers filesystems
 * that deliver no events (network mounts).
 */
function removed(dir: string, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const watcher = watch(dir, () => check());
    const recheck = setInterval(() => check(), 250);
    const timer = setTimeout(() => finish(false), timeoutMs);
    function check(): void {
      if (!existsSync(path)) finish(true);
    }
    function finish(gone: boolean): void {
      if (done) return;
      done = true;
      watcher.close();
      clearInterval(recheck);
      clearTimeout(timer);
      resolve(gone);
    }
    check();
  });
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
