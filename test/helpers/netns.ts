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
