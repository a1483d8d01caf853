/**
 * `tunnel up` without --foreground: the same command line runs again as a detached child (its
 * own session, stdin closed, stdout a pipe to us, stderr and its logs appended to
 * <runtime>/tunnels/<name>.log). The parent copies the child's `tunnel up:` line and exits 0;
 * if the child exits first, the parent shows what the child wrote to its log and exits with
 * the child's code. The child writes nothing to stdout after that line, so the pipe closing
 * with the parent costs it nothing.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { createInterface } from "node:readline";

/** Set in the child's environment: it runs in the foreground and is the detached daemon. */
export const DETACHED_CHILD_ENV = "CREDPROXY_TUNNEL_DETACHED";

export const UP_LINE_PREFIX = "tunnel up:";

const INTERRUPTS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** How to run this program again: the compiled binary, or bun with the entry script. */
export function selfCommand(): string[] {
  const script = process.argv[1];
  return script === undefined || script.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, script];
}

export async function detachTunnel(args: readonly string[], logFile: string): Promise<number> {
  const start = sizeOf(logFile);
  const log = openSync(logFile, "a", 0o600);
  const [command, ...rest] = [...selfCommand(), ...args];
  const child = spawn(command!, rest, {
    detached: true,
    stdio: ["ignore", "pipe", log],
    env: { ...process.env, [DETACHED_CHILD_ENV]: "1" },
  });
  closeSync(log);
  const lines = createInterface({ input: child.stdout! });
  // Interrupted while waiting (Ctrl-C): the child is in its own session and would not hear it,
  // so it is stopped too rather than coming up unseen.
  const stopChild = (): void => void child.kill("SIGTERM");
  for (const signal of INTERRUPTS) process.once(signal, stopChild);
  return await new Promise<number>((resolve) => {
    let done = false;
    lines.on("line", (line) => {
      if (done || !line.startsWith(UP_LINE_PREFIX)) return;
      done = true;
      for (const signal of INTERRUPTS) process.off(signal, stopChild);
      process.stdout.write(line + "\n");
      lines.close();
      child.stdout!.destroy();
      child.unref();
      resolve(0);
    });
    child.on("exit", (code, signal) => {
      if (done) return;
      done = true;
      const written = readFrom(logFile, start).trimEnd();
      if (start === 0) rmSync(logFile, { force: true });
      process.stderr.write((written === "" ? `tunnel up: the background process ended (${signal ?? `exit ${code}`}) before the tunnel was up` : written) + "\n");
      resolve(code === 0 || code === null ? 1 : code);
    });
  });
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function readFrom(path: string, offset: number): string {
  try {
    return readFileSync(path).subarray(offset).toString("utf8");
  } catch {
    return "";
  }
}
