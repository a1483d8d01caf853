/**
 * Creating a file with the right mode from the start: run a synchronous call (a unix-socket
 * bind) under a given umask and restore the previous one straight after. A chmod afterwards
 * would leave a window in which the file has umask-derived permissions
 * (reference/aws-credential-protocols.md §6, §8.5).
 */
import { umask } from "../../native/libc.ts";

/**
 * Runs `create` with the process umask set to `mask`, restoring the previous mask even when it
 * throws. `create` must be synchronous: the umask is process-wide, so nothing else may run
 * while it is in force. On Linux the mask is set through libc; elsewhere through process.umask.
 */
export function withUmask<T>(mask: number, create: () => T, platform: string = process.platform): T {
  const set = platform === "linux" ? umask : (m: number) => process.umask(m);
  const previous = set(mask);
  try {
    return create();
  } finally {
    set(previous);
  }
}
