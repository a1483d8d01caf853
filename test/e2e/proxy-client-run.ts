/**
 * Real clients (python3, node, bun) run as children with only the sandbox environment `credproxy
 * proxy env` printed, so what they trust and where they send traffic comes from it alone.
 */
import { join } from "node:path";
import { killChild, orphanGuard, tempDirSync, trackChild } from "../helpers/cleanup.ts";
import { REPO_ROOT } from "../helpers/binary.ts";
import { withTimeout } from "../helpers/wait.ts";

export const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
export const NODE = "/usr/bin/node";

export interface ClientResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The sandbox environment as a client gets it, minus NO_PROXY: `proxy env` exempts localhost
 * (inside a sandbox that is the sandbox itself), but the test origins are on this host's
 * loopback and must be reached through the proxy.
 */
export function clientEnv(sandbox: Record<string, string>): Record<string, string> {
  const { NO_PROXY: _a, no_proxy: _b, ...rest } = sandbox;
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDirSync("credproxy-client-home-"), LC_ALL: "C", ...rest };
}

/** Runs a client to completion in `env` (nothing inherited); never throws on a non-zero exit. */
export async function runClient(cmd: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<ClientResult> {
  const proc = Bun.spawn(orphanGuard(cmd), { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  trackChild(proc);
  const [stdout, stderr, code] = await withTimeout(Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]), timeoutMs, cmd[0]).catch(async (err: unknown) => {
    await killChild(proc, "SIGKILL");
    throw err;
  });
  return { code, stdout, stderr };
}

/** Parses a client's stdout as JSON, with its stderr in the error when it is not. */
export function jsonOf(r: ClientResult): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`client exited ${r.code} without JSON; stdout ${JSON.stringify(r.stdout.slice(0, 500))}; stderr ${r.stderr.slice(-2000)}`);
  }
}
