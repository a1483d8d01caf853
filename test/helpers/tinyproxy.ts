/**
 * Debian's tinyproxy as the "corporate proxy" for chaining tests: on 127.0.0.1 only, with
 * Basic auth, started in the foreground, its log lines kept so a test can see what it was
 * asked (CONNECT host:port, or an absolute-form GET).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { killChild, onCleanup, orphanGuard, tempDir, trackChild } from "./cleanup.ts";
import { freePort } from "./ports.ts";
import { waitFor } from "./wait.ts";

export interface Tinyproxy {
  readonly port: number;
  /** http://user:pass@127.0.0.1:PORT */
  readonly url: string;
  /** Everything it logged so far. */
  log(): string;
  /** Resolves once its log contains `text`. */
  waitForLog(text: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startTinyproxy(auth: { user: string; password: string }): Promise<Tinyproxy> {
  const dir = await tempDir("tinyproxy-");
  const port = await freePort();
  const conf = join(dir, "tinyproxy.conf");
  await writeFile(conf, [`Port ${port}`, "Listen 127.0.0.1", "Timeout 30", "LogLevel Connect", "MaxClients 50", "Allow 127.0.0.1", `BasicAuth ${auth.user} ${auth.password}`, ""].join("\n"));
  const proc = Bun.spawn(orphanGuard(["tinyproxy", "-d", "-c", conf]), { stdout: "pipe", stderr: "pipe" });
  trackChild(proc);
  let text = "";
  const decoder = new TextDecoder();
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      for await (const chunk of stream) text += decoder.decode(chunk);
    })();
  }
  const stop = () => killChild(proc, "SIGTERM");
  onCleanup(`tinyproxy ${port}`, stop);
  await waitFor(() => text.includes("done sending stored logs") || text.includes("Listening on"), { timeoutMs: 10_000, what: "tinyproxy to start" });
  return {
    port,
    url: `http://${auth.user}:${auth.password}@127.0.0.1:${port}`,
    log: () => text,
    waitForLog: (needle) => waitFor(() => text.includes(needle), { timeoutMs: 5_000, what: `tinyproxy to log ${needle}` }).then(() => undefined),
    stop,
  };
}
