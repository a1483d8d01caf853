import { join } from "node:path";
import { REPO_ROOT } from "./binary.ts";
import { cleanupAll } from "./cleanup.ts";
/**
 * For scenario scripts that run inside a network namespace a test created: what is on this
 * namespace's loopback interface right now.
 */
export async function loAddresses(): Promise<string[]> {
  const out = (await Bun.$`ip -j addr show lo`.json()) as { addr_info: { local: string }[] }[];
  return out[0]!.addr_info.map((a) => a.local);
}

/**
 * The frame of a scenario script: runs `body`, records a thrown error in the report instead of
 * dying, always cleans up the processes and temp dirs the helpers started, and prints the
 * report as the last stdout line for the test outside the namespace to read.
 */
export async function runScenario(body: (report: Record<string, unknown>) => Promise<void>): Promise<void> {
  const report: Record<string, unknown> = {};
  try {
    await body(report);
  } catch (error) {
    report.error = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
  } finally {
    await cleanupAll();
  }
  console.log(JSON.stringify(report));
}

/**
 * The other half of runScenario(): runs `script` (a path under the repository) with Bun inside
 * network namespace `ns`, and returns the report it printed, plus its stderr when it failed.
 */
export async function scenarioReport<R extends { error?: string | undefined }>(
  ns: string,
  script: string,
  options: { args?: string[]; env?: Record<string, string | undefined> } = {},
): Promise<{ report: R; stderr: string }> {
  const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, join(REPO_ROOT, script), ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: undefined, ...options.env },
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const report = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as R;
  return { report, stderr: report.error ? err.slice(-2000) : "" };
}
