/**
 * Log lines gathered and written together: under load the proxy logs a line per request, and
 * a write per line was ~7% of its CPU. Lines wait at most until the event loop turns (one
 * setImmediate) or 64 KiB have gathered, and whatever is held is written when the process
 * exits, so an orderly stop loses nothing and a line is never seconds late.
 */
import { writeSync } from "node:fs";

const MAX_HELD = 64 * 1024;

/** A line writer for createLogger's `write` that batches into stderr. */
export function batchedLines(): (line: string) => void {
  let held: string[] = [];
  let size = 0;
  let scheduled = false;
  const take = () => {
    const text = held.join("\n") + "\n";
    held = [];
    size = 0;
    return text;
  };
  const flush = () => {
    scheduled = false;
    if (held.length > 0) process.stderr.write(take());
  };
  // At exit there is no later turn of the loop for an asynchronous write.
  process.once("exit", () => held.length > 0 && writeAll(2, take()));
  return (line) => {
    held.push(line);
    size += line.length;
    if (size >= MAX_HELD) return flush();
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** writeSync until all of it is out (a pipe may take part of it); a reader that has gone is not an error of ours. */
function writeAll(fd: number, text: string): void {
  let bytes = Buffer.from(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(writeSync(fd, bytes));
  } catch {
    // EPIPE or EAGAIN: as with process.stderr, a lost log line does not stop the proxy
  }
}
