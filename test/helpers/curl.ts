/**
 * curl as a real, independent client for the origin helpers' tests (and the proxy's):
 * one-shot runs, and a streaming run whose output a test reads as it arrives.
 */
import { killChild, orphanGuard, trackChild } from "./cleanup.ts";
import { assertLoopback } from "./loopback.ts";
import { withTimeout } from "./wait.ts";

export interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", CURL_HOME: "/nonexistent" };

/** URL arguments must be loopback, or a `.invalid` name (which only a --resolve or a proxy can reach). */
function checkUrls(args: string[]): void {
  for (const a of args) {
    if (!/^[a-z]+:\/\//i.test(a)) continue;
    if (new URL(a).hostname.endsWith(".invalid")) continue;
    assertLoopback(a);
  }
}

/** Runs curl to completion (`-q` first so no ~/.curlrc applies). */
export async function curl(args: string[], timeoutMs = 5000): Promise<CurlResult> {
  checkUrls(args);
  const proc = Bun.spawn(orphanGuard(["curl", "-q", "-sS", ...args]), { stdout: "pipe", stderr: "pipe", env: ENV });
  trackChild(proc);
  const [stdout, stderr, code] = await withTimeout(
    Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]),
    timeoutMs,
    `curl ${args.join(" ")}`,
  ).catch(async (err: unknown) => {
    await killChild(proc, "SIGKILL");
    throw err;
  });
  return { code, stdout, stderr };
}

export interface StreamingCurl {
  /** Everything received so far. */
  readonly output: string;
  /** Resolves once the output contains `text` (already or later); rejects if curl exits first. */
  until(text: string, timeoutMs?: number): Promise<void>;
  /** Kills curl (SIGKILL: the connection drops without a goodbye) and waits for it to exit. */
  kill(): Promise<void>;
  readonly exited: Promise<number>;
}

/** Starts curl with `-N` (no output buffering) and reads its stdout as it arrives. */
export function streamingCurl(args: string[]): StreamingCurl {
  checkUrls(args);
  const proc = Bun.spawn(orphanGuard(["curl", "-q", "-sS", "-N", ...args]), { stdout: "pipe", stderr: "pipe", env: ENV });
  trackChild(proc);
  let output = "";
  const waiters = new Set<{ text: string; resolve: () => void }>();
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of proc.stdout) {
      output += decoder.decode(chunk, { stream: true });
      for (const w of [...waiters]) {
        if (!output.includes(w.text)) continue;
        waiters.delete(w);
        w.resolve();
      }
    }
  })();
  const exited = pump.then(() => proc.exited);
  return {
    get output() {
      return output;
    },
    until(text, timeoutMs = 5000) {
      if (output.includes(text)) return Promise.resolve();
      const seen = new Promise<void>((resolve) => waiters.add({ text, resolve }));
      const gone = exited.then(async (code) => {
        if (!output.includes(text)) throw new Error(`curl exited ${code} before sending ${JSON.stringify(text)}; got ${JSON.stringify(output)}; stderr ${await new Response(proc.stderr).text()}`);
      });
      return withTimeout(Promise.race([seen, gone]), timeoutMs, `curl output containing ${JSON.stringify(text)} (got ${JSON.stringify(output)})`);
    },
    kill: () => killChild(proc, "SIGKILL"),
    exited,
  };
}
