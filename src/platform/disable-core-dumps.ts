/**
 * Start-up hardening for every command: no core dumps of a process that holds credentials, and
 * (Linux) no ptrace or /proc/<pid>/environ|mem by other processes of the same user. See
 * native/linux/core-dumps.ts for what PR_SET_DUMPABLE 0 and RLIMIT_CORE 0 change.
 */
import { disableCoreFiles } from "../../native/darwin/core-limit.ts";
import { disableCoreDumps as linuxDisableCoreDumps } from "../../native/linux/core-dumps.ts";

/**
 * Linux: PR_SET_DUMPABLE 0 and RLIMIT_CORE 0/0; macOS: RLIMIT_CORE 0/0. Never throws and prints
 * nothing: where libc cannot be opened (another OS, a musl system) it does nothing and returns
 * false, as the commands themselves still work there.
 */
export function disableCoreDumps(platform: string = process.platform): boolean {
  const apply = platform === "linux" ? linuxDisableCoreDumps : platform === "darwin" ? disableCoreFiles : undefined;
  if (!apply) return false;
  try {
    apply();
    return true;
  } catch {
    return false;
  }
}
