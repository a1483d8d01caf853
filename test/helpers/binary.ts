/**
 * Running the compiled binary (dist/credproxy, built by `npm run build`) the way users do,
 * in an environment scrubbed of the host's AWS configuration.
 */
import type { Subprocess } from "bun";
import { accessSync, constants, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { killChild, onCleanup, orphanGuard, tempDirSync, trackChild } from "./cleanup.ts";
import { deferred, withTimeout } from "./wait.ts";

export { tempDir, tempDirSync } from "./cleanup.ts";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
export const BINARY_PATH = join(REPO_ROOT, "dist", "credproxy");

export class MissingBinaryError extends Error {
  override name = "MissingBinaryError";
}

/** The binary's path, or a clear error when it has not been built. */
export function credproxyBinary(path: string = BINARY_PATH): string {
  if (!existsSync(path)) {
    throw new MissingBinaryError(`${path} does not exist: build it first with \`npm run build\` (npm test does this)`);
  }
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new MissingBinaryError(`${path} is not executable: rebuild it with \`npm run build\``);
  }
  return path;
}

export type EnvOverrides = Record<string, string | undefined>;

/**
 * A minimal child environment: PATH, HOME (a fresh temp dir unless given),
 * AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE at /dev/null and IMDS off, so no profile,
 * key or metadata service of the host leaks in. `overrides` win; `undefined` removes a name.
 */
export function cleanEnv(overrides: EnvOverrides = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: overrides.HOME ?? tempDirSync("credproxy-home-"),
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export interface SpawnOptions {
  env?: EnvOverrides;
  /** Working directory; defaults to the child's temp HOME. */
  cwd?: string;
  /** Another executable instead of dist/credproxy (for testing these helpers). */
  binary?: string;
  stdin?: "ignore" | "pipe";
}

export type LineStream = "stderr" | "stdout" | "any";

export interface CredproxyProcess {
  proc: Subprocess<"ignore" | "pipe", "pipe", "pipe">;
  pid: number;
  env: Record<string, string>;
  /** Complete lines so far, appended live. */
  stdoutLines: string[];
  stderrLines: string[];
  /**
   * Resolves with the first line (already seen or future) matching `re`. Rejects at once if
   * the process exits first, and after timeoutMs (default 10 s) otherwise.
   */
  waitForLine(re: RegExp, timeoutMs?: number, stream?: LineStream): Promise<RegExpExecArray>;
  /** Like waitForLine for JSON log lines on stderr: the first record `match` accepts. */
  waitForLog(match: (record: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Every stderr line parsed as JSON (non-JSON lines skipped). */
  logRecords(): Record<string, unknown>[];
  exited: Promise<ExitStatus>;
  /** Sends `signal` (default SIGTERM) and waits for exit; SIGKILLs and rejects after timeoutMs. */
  kill(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
  /** Last lines of both streams, for failure messages. */
  tail(lines?: number): string;
}

type Listener = () => void;

function collectLines(stream: ReadableStream<Uint8Array>, into: string[], notify: Listener): Promise<void> {
  return (async () => {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      const parts = (partial + decoder.decode(chunk, { stream: true })).split("\n");
      partial = parts.pop() ?? "";
      if (parts.length > 0) {
        into.push(...parts);
        notify();
      }
    }
    partial += decoder.decode();
    if (partial !== "") {
      into.push(partial);
      notify();
    }
  })().catch(() => undefined);
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function statusOf(proc: Subprocess): ExitStatus {
  const { signalCode } = proc;
  return { code: proc.exitCode, signal: signalCode === null ? null : String(signalCode) };
}

export function spawnCredproxy(args: string[], options: SpawnOptions = {}): CredproxyProcess {
  const binary = options.binary ?? credproxyBinary();
  const env = cleanEnv(options.env);
  const cwd = options.cwd ?? env.HOME ?? tempDirSync();
  const proc = Bun.spawn(orphanGuard([binary, ...args]), {
    env,
    cwd,
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  trackChild(proc);
  const unregister = onCleanup(`credproxy pid ${proc.pid}`, () => killChild(proc, "SIGKILL"));

  const stdoutLines: string[] = [];
  const stderrLines: string[] = [];
  const listeners = new Set<Listener>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  const drained = Promise.all([collectLines(proc.stdout, stdoutLines, notify), collectLines(proc.stderr, stderrLines, notify)]);
  // Resolve after the pipes are drained so every line is visible to whoever awaits this.
  const exited = proc.exited.then(async () => {
    await drained;
    unregister();
    return statusOf(proc);
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    notify();
  });

  const tail = (n = 30): string =>
    [`--- stderr (last ${n}) ---`, ...stderrLines.slice(-n), `--- stdout (last ${n}) ---`, ...stdoutLines.slice(-n)].join("\n");

  const find = (re: RegExp, stream: LineStream): RegExpExecArray | undefined => {
    const sources = stream === "any" ? [stderrLines, stdoutLines] : stream === "stderr" ? [stderrLines] : [stdoutLines];
    for (const lines of sources) {
      for (const line of lines) {
        re.lastIndex = 0;
        const m = re.exec(line);
        if (m) return m;
      }
    }
    return undefined;
  };

  const waitUntil = <T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const found = probe();
    if (found !== undefined) return Promise.resolve(found);
    const d = deferred<T>();
    const listener = (): void => {
      const v = probe();
      if (v !== undefined) d.resolve(v);
      else if (hasExited) d.reject(new Error(`credproxy exited (${JSON.stringify(statusOf(proc))}) before ${what}\n${tail()}`));
    };
    listeners.add(listener);
    return withTimeout(d.promise, timeoutMs, `${what}\n${tail()}`).finally(() => listeners.delete(listener));
  };

  const logRecords = (): Record<string, unknown>[] =>
    stderrLines.map(parseJsonLine).filter((r): r is Record<string, unknown> => r !== undefined);

  return {
    proc,
    pid: proc.pid,
    env,
    stdoutLines,
    stderrLines,
    waitForLine: (re, timeoutMs = 10_000, stream = "stderr") => waitUntil(() => find(re, stream), timeoutMs, `a ${stream} line matching ${re}`),
    waitForLog: (match, timeoutMs = 10_000) => waitUntil(() => logRecords().find(match), timeoutMs, "a matching JSON log record"),
    logRecords,
    exited,
    async kill(signal = "SIGTERM", timeoutMs = 5000) {
      if (!hasExited) {
        try {
          proc.kill(signal);
        } catch {
          // exited meanwhile
        }
      }
      try {
        return await withTimeout(exited, timeoutMs, `credproxy to exit after ${signal}`);
      } catch (err) {
        await killChild(proc, "SIGKILL");
        throw err;
      }
    },
    tail,
  };
}

export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

export interface RunOptions extends Omit<SpawnOptions, "stdin"> {
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: string;
  /** Kill (SIGKILL) and reject after this long; default 30 s. */
  timeoutMs?: number;
}

/** Runs the binary to completion and returns its exit status and output. */
export async function runCredproxy(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const binary = options.binary ?? credproxyBinary();
  const env = cleanEnv(options.env);
  const cwd = options.cwd ?? env.HOME ?? tempDirSync();
  const proc = Bun.spawn([binary, ...args], {
    env,
    cwd,
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  trackChild(proc);
  const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  try {
    await withTimeout(proc.exited, options.timeoutMs ?? 30_000, `${binary} ${args.join(" ")} to finish`);
  } catch (err) {
    await killChild(proc, "SIGKILL");
    throw err;
  }
  const [stdout, stderr] = await output;
  return { ...statusOf(proc), stdout, stderr };
}
