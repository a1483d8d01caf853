/**
 * installNat() with the real iptables (iptables-nft here), in a network namespace this file
 * creates and removes: our chains and jumps appear, ip_forward goes to 1, a rule someone else
 * added is untouched, remove() restores everything, a crashed run's chain is cleaned up by the
 * next install, and a failure mid-install rolls back. Needs root and iptables; skipped otherwise.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { scenarioReport } from "../helpers/netns.ts";
import type { Snapshot } from "./nat-rules-scenario.ts";

const ns = `cp-nat-${process.pid}`;
const OTHER_FORWARD = "-A FORWARD -s 10.9.9.0/24 -j ACCEPT";
const OTHER_NAT = "-A POSTROUTING -s 10.9.8.0/24 -j RETURN";

function setUp(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  if (!Bun.which("iptables", { PATH: `${process.env.PATH}:/usr/sbin:/sbin` })) return "no iptables";
  for (const step of [
    ["ip", "netns", "add", ns],
    ["ip", "-n", ns, "link", "set", "lo", "up"],
    ["ip", "netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"],
    ["ip", "netns", "exec", ns, "iptables", ...OTHER_FORWARD.split(" ")],
    ["ip", "netns", "exec", ns, "iptables", "-t", "nat", ...OTHER_NAT.split(" ")],
  ]) {
    const r = Bun.spawnSync(step);
    if (r.exitCode !== 0) return `${step.join(" ")}: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`;
  }
  return undefined;
}

const failure = setUp();
if (failure !== undefined) {
  if (process.env.CI) throw new Error(`iptables in a network namespace is required in CI: ${failure}`);
  console.warn(`SKIP: agent NAT tests: ${failure}`);
}
afterAll(() => {
  Bun.spawnSync(["ip", "netns", "del", ns]);
});

interface Report {
  error?: string;
  before: Snapshot;
  installed: Snapshot;
  removed: Snapshot;
  crashed: Snapshot;
  afterLeftover: Snapshot;
  afterLeftoverRemoved: Snapshot;
  failure: string;
  afterFailure: Snapshot;
  log: string[];
}

describe.skipIf(failure !== undefined)("installNat() with iptables in a network namespace", () => {
  let report: Report;

  test("the scenario runs to the end inside the namespace", async () => {
    const run = await scenarioReport<Report>(ns, "test/integration/nat-rules-scenario.ts");
    report = run.report;
    expect(report.error, run.stderr).toBeUndefined();
  });

  test("before install only the other rules are there and ip_forward is 0", () => {
    expect(report.before.filter).toContain(OTHER_FORWARD);
    expect(report.before.nat).toContain(OTHER_NAT);
    expect(report.before.filter.join("\n")).not.toContain("CREDPROXY");
    expect(report.before.ipForward).toBe("0");
  });

  test("iptables -t nat -S shows our chain, its MASQUERADE rule and the jump from POSTROUTING first", () => {
    const nat = report.installed.nat;
    expect(nat).toContain("-N CREDPROXY-NAT");
    expect(nat).toContain("-A CREDPROXY-NAT -s 100.64.0.0/24 -o eth9 -j MASQUERADE");
    expect(nat.filter((r) => r.startsWith("-A POSTROUTING"))).toEqual(["-A POSTROUTING -j CREDPROXY-NAT", OTHER_NAT]);
  });

  test("iptables -S shows our FORWARD chain: established back, the allowed CIDR, then drop", () => {
    const filter = report.installed.filter;
    expect(filter.filter((r) => r.startsWith("-A CREDPROXY-FWD"))).toEqual([
      "-A CREDPROXY-FWD -d 100.64.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A CREDPROXY-FWD -s 100.64.0.0/24 -d 10.0.0.0/8 -j ACCEPT",
      "-A CREDPROXY-FWD -s 100.64.0.0/24 -j DROP",
    ]);
    expect(filter.filter((r) => r.startsWith("-A FORWARD"))).toEqual(["-A FORWARD -j CREDPROXY-FWD", OTHER_FORWARD]);
  });

  test("ip_forward is 1 while installed", () => {
    expect(report.installed.ipForward).toBe("1");
  });

  test("remove() restores the ruleset exactly and ip_forward to 0", () => {
    expect(report.removed).toEqual(report.before);
  });

  test("a chain left by a crashed run is removed at the next install, with a log line", () => {
    expect(report.crashed.filter).toContain("-A CREDPROXY-FWD -j DROP");
    expect(report.afterLeftover.filter).not.toContain("-A CREDPROXY-FWD -j DROP");
    expect(report.afterLeftover.filter.filter((r) => r === "-A FORWARD -j CREDPROXY-FWD")).toHaveLength(1);
    expect(report.afterLeftoverRemoved).toEqual(report.before);
    expect(report.log.some((l) => l.includes("left by an earlier") && l.includes("CREDPROXY-FWD"))).toBe(true);
  });

  test("a command failing mid-install rolls back everything it added", () => {
    expect(report.failure).toContain("injected failure");
    expect(report.afterFailure).toEqual(report.before);
  });
});
