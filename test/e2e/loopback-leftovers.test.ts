/**
 * No loopback address outlives credproxy, in a network namespace this test creates and
 * removes: `serve --ecs-metadata` and `broker imds` stop cleanly on every catchable signal that
 * would end them (SIGHUP from a closed terminal, SIGQUIT, …); after a SIGKILL the address stays
 * but is on record, so the next start removes it (and says so) and `credproxy cleanup` removes
 * it too, leaving alone addresses it did not add and those of runs still alive.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { scenarioReport } from "../helpers/netns.ts";
import { join } from "node:path";
import { ECS, IMDS, LEFTOVER_LOG, STOP_SIGNALS, UNRECORDED, type KillCase, type SignalCase } from "./loopback-leftovers-cases.ts";
import type { RunResult, ExitStatus } from "../helpers/binary.ts";

const ns = `cp-left-${process.pid}`;
const created = Bun.spawnSync(["ip", "netns", "add", ns]);
const canNetns = created.exitCode === 0 && Bun.spawnSync(["ip", "-n", ns, "link", "set", "lo", "up"]).exitCode === 0;
if (!canNetns) {
  const why = created.stderr.toString().trim() || "ip netns failed";
  if (process.env.CI) throw new Error(`network namespaces are required in CI: ${why}`);
  console.warn(`SKIP: loopback leftovers namespace test, cannot create a network namespace: ${why}`);
}
afterAll(() => {
  Bun.spawnSync(["ip", "netns", "del", ns]);
});

interface Report {
  signals: Record<"serve" | "imds", Record<string, SignalCase>>;
  kills: Record<"serve" | "imds", KillCase>;
  cleanup: {
    before: string[];
    unprivileged: RunResult;
    afterUnprivileged: string[];
    dryRun: RunResult;
    afterDryRun: string[];
    cleanup: RunResult;
    after: string[];
    again: RunResult;
    liveExit: ExitStatus;
    livePid: number;
    deadPid: number;
    atEnd: string[];
  };
  readOnly: { warnings: number; during: boolean; exit: ExitStatus; after: boolean };
  error?: string;
}

const COMMANDS = [
  { kind: "serve", name: "serve --ecs-metadata", address: ECS },
  { kind: "imds", name: "broker imds", address: IMDS },
] as const;

describe.skipIf(!canNetns)("loopback addresses after credproxy exits, in a network namespace", () => {
  let report: Report;

  test("the scenario runs to the end inside the namespace", async () => {
    const run = await scenarioReport<Report>(ns, "test/e2e/loopback-leftovers-scenario.ts");
    report = run.report;
    expect({ error: report.error, stderr: run.stderr }).toEqual({ error: undefined, stderr: "" });
  }, 120_000);

  for (const { kind, name, address } of COMMANDS) {
    for (const signal of STOP_SIGNALS) {
      test(`${name} stops cleanly on ${signal}, exiting 0 and removing ${address}`, () => {
        expect(report.signals[kind][signal]).toEqual({ exit: { code: 0, signal: null }, left: false });
      });
    }

    test(`${name} SIGKILLed leaves ${address}; the next start removes it, says so, and serves there`, () => {
      const k = report.kills[kind];
      expect(k.leftAfterKill).toBe(true);
      expect(k.leftoverLogs).toHaveLength(1);
      expect(k.leftoverLogs[0]).toContain(address);
      expect(k.onLoAgain).toBe(true);
      expect(typeof k.served).toBe("number"); // an HTTP answer, not a refused connection
      expect(k.exitAfter).toEqual({ code: 0, signal: null });
      // The re-added address is the new run's own: removed on its stop.
      expect(k.leftAtEnd).toBe(false);
    });
  }

  test("credproxy cleanup without CAP_NET_ADMIN exits 1 saying so, removes nothing and keeps the record", () => {
    const c = report.cleanup;
    expect(c.unprivileged.code).toBe(1);
    expect(c.unprivileged.stderr).toContain(`Cannot remove ${ECS}/32 from the loopback interface lo as credproxy lacks CAP_NET_ADMIN`);
    expect(c.unprivileged.stderr).toContain("sudo credproxy cleanup");
    expect(c.afterUnprivileged).toEqual(c.before);
    // The record survived: the dry run after it still finds the address.
    expect(c.dryRun.stdout).toContain(`${ECS}/32: would remove`);
  });

  test("credproxy cleanup --dry-run names the dead run's address and changes nothing", () => {
    const c = report.cleanup;
    expect(c.dryRun.code).toBe(0);
    expect(c.dryRun.stdout).toContain(`${ECS}/32: would remove (left by pid ${c.deadPid}, no longer running)`);
    expect(c.afterDryRun).toEqual(c.before);
  });

  test("credproxy cleanup removes a SIGKILLed run's address and leaves an unrecorded one and a live run's", () => {
    const c = report.cleanup;
    expect(c.before).toEqual(expect.arrayContaining([ECS, IMDS, UNRECORDED]));
    expect({ code: c.cleanup.code, stderr: c.cleanup.stderr }).toEqual({ code: 0, stderr: "" });
    expect(c.cleanup.stdout.trim().split("\n").sort()).toEqual(
      [`${ECS}/32: removed (left by pid ${c.deadPid}, no longer running)`, `${IMDS}/32: still owned by pid ${c.livePid}, left alone`].sort(),
    );
    expect(c.after).not.toContain(ECS);
    expect(c.after).toEqual(expect.arrayContaining([IMDS, UNRECORDED]));
    // The dead run's record is gone with its address; the live one stays until it stops.
    expect(c.again.stdout.trim()).toBe(`${IMDS}/32: still owned by pid ${c.livePid}, left alone`);
    expect(c.liveExit).toEqual({ code: 0, signal: null });
    expect(c.atEnd).not.toContain(IMDS);
    expect(c.atEnd).toContain(UNRECORDED);
  });

  test("with a state directory it cannot write, broker imds warns once and still adds, serves and removes the address", () => {
    expect(report.readOnly).toEqual({ warnings: 1, during: true, exit: { code: 0, signal: null }, after: false });
  });

  test("the next-start warning names the address it removed, not a secret", () => {
    for (const { kind } of COMMANDS) expect(report.kills[kind].leftoverLogs.join("\n")).toContain(LEFTOVER_LOG);
  });
});
