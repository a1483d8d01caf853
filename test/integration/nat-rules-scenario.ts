/**
 * Runs inside the network namespace test/integration/nat-rules.test.ts creates: installNat()
 * with the real iptables, snapshots of the ruleset and ip_forward at each stage, a "crashed
 * run" leftover, and a failure injected mid-install.
 */
import { readFileSync } from "node:fs";
import { spawnRunner, type CommandRunner } from "../../src/agent/command-runner.ts";
import { installNat } from "../../src/agent/nat-rules.ts";
import { createLogger } from "../../src/log.ts";
import { runScenario } from "../helpers/netns.ts";

export interface Snapshot {
  nat: string[];
  filter: string[];
  ipForward: string;
}

async function snapshot(): Promise<Snapshot> {
  const rules = async (table: string) => (await Bun.$`iptables -t ${table} -S`.text()).trim().split("\n");
  return { nat: await rules("nat"), filter: await rules("filter"), ipForward: readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim() };
}

await runScenario(async (report) => {
  const logLines: string[] = [];
  const log = createLogger({ write: (line) => logLines.push(line) });
  const options = { pool: "100.64.0.0/24", outInterface: "eth9", allowCidrs: ["10.0.0.0/8"], firewall: "iptables" as const, log };
  report.before = await snapshot();

  const nat = await installNat(options);
  report.installed = await snapshot();
  await nat.remove();
  report.removed = await snapshot();

  await Bun.$`iptables -N CREDPROXY-FWD`;
  await Bun.$`iptables -A CREDPROXY-FWD -j DROP`;
  await Bun.$`iptables -I FORWARD 1 -j CREDPROXY-FWD`;
  report.crashed = await snapshot();
  const again = await installNat(options);
  report.afterLeftover = await snapshot();
  await again.remove();
  report.afterLeftoverRemoved = await snapshot();

  const real = spawnRunner();
  const failing: CommandRunner = async (argv, stdin) =>
    argv.includes("FORWARD") && argv.includes("-I") ? { code: 4, stdout: "", stderr: "injected failure" } : real(argv, stdin);
  report.failure = await installNat({ ...options, runner: failing }).then(
    () => "installed",
    (error: Error) => error.message,
  );
  report.afterFailure = await snapshot();
  report.log = logLines;
});
