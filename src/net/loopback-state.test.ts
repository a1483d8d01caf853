import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { claimRun, recordedRuns, runState, stateDirectory } from "./loopback-state.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), "credproxy-state-test-"));
  dirs.push(d);
  return d;
}

/** A /proc with `self` and other pids: each with a start time and namespaces. */
function fakeProc(pids: Record<string, { start: string; net?: string; pid?: string }>): string {
  const root = temp();
  for (const [pid, p] of Object.entries(pids)) {
    mkdirSync(join(root, pid, "ns"), { recursive: true });
    // comm with a space and ")" as the kernel allows
    writeFileSync(join(root, pid, "stat"), `${pid} (a b) c) S ${"1 ".repeat(18)}${p.start} 0 0\n`);
    symlinkSync(p.net ?? "net:[1]", join(root, pid, "ns", "net"));
    symlinkSync(p.pid ?? "pid:[1]", join(root, pid, "ns", "pid"));
  }
  return root;
}

const A = { address: "169.254.169.254", prefixLength: 32 };

describe("loopback state", () => {
  test("a run's record holds what it added and disappears when it forgot everything", () => {
    const dir = join(temp(), "run");
    const proc = fakeProc({ self: { start: "100" } });
    const state = runState("lo", { dir, proc });
    state.record(A);
    const [file] = readdirSync(dir);
    expect(file).toBe(`loopback-${process.pid}-100.json`);
    expect(JSON.parse(readFileSync(join(dir, file!), "utf8"))).toEqual({
      pid: process.pid,
      startTime: "100",
      netns: "net:[1]",
      pidns: "pid:[1]",
      interface: "lo",
      addresses: [A],
    });
    state.forget(A.address);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("an owner with the same pid and start time is alive; a reused pid (other start time) is dead", () => {
    const dir = temp();
    const write = (pid: number, start: string): void =>
      writeFileSync(join(dir, `loopback-${pid}-${start}.json`), JSON.stringify({ pid, startTime: start, netns: "net:[1]", pidns: "pid:[1]", interface: "lo", addresses: [A] }));
    write(7, "50");
    write(8, "60");
    write(9, "70"); // no such pid at all
    write(10, "80"); // its stat cannot be read (here: a directory): unknown, so alive
    const proc = fakeProc({ self: { start: "100" }, "7": { start: "50" }, "8": { start: "61" } });
    mkdirSync(join(proc, "10", "stat"), { recursive: true });
    expect(recordedRuns(dir, proc).map((r) => [r.pid, r.owner])).toEqual([
      [10, "alive"],
      [7, "alive"],
      [8, "dead"],
      [9, "dead"],
    ]);
  });

  test("records of another network namespace are not seen; another pid namespace's owners count as alive", () => {
    const dir = temp();
    const record = (pid: number, netns: string, pidns: string) =>
      JSON.stringify({ pid, startTime: "1", netns, pidns, interface: "lo", addresses: [A] });
    writeFileSync(join(dir, "loopback-1-1.json"), record(1, "net:[2]", "pid:[1]"));
    writeFileSync(join(dir, "loopback-2-1.json"), record(2, "net:[1]", "pid:[9]"));
    writeFileSync(join(dir, "loopback-3-1.json"), "{not json");
    const proc = fakeProc({ self: { start: "100" } });
    expect(recordedRuns(dir, proc).map((r) => [r.pid, r.owner])).toEqual([[2, "alive"]]);
  });

  test("only one cleaner claims a dead run's record; keeping it puts it back", () => {
    const dir = temp();
    writeFileSync(join(dir, "loopback-9-1.json"), JSON.stringify({ pid: 9, startTime: "1", netns: "net:[1]", pidns: "pid:[1]", interface: "lo", addresses: [A] }));
    const proc = fakeProc({ self: { start: "100" } });
    const [run] = recordedRuns(dir, proc);
    const first = claimRun(run!);
    expect(first.claimed).toBe(true);
    expect(claimRun(run!).claimed).toBe(false);
    first.release(true);
    expect(recordedRuns(dir, proc)).toHaveLength(1);
    const again = claimRun(run!);
    again.release(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a record claimed by a cleaner that died before releasing it is found again", () => {
    const dir = temp();
    const body = JSON.stringify({ pid: 9, startTime: "1", netns: "net:[1]", pidns: "pid:[1]", interface: "lo", addresses: [A] });
    writeFileSync(join(dir, "loopback-9-1.json.claimed-4242"), body); // no pid 4242
    writeFileSync(join(dir, "loopback-8-1.json.claimed-7"), body.replace('"pid":9', '"pid":8')); // pid 7 is busy with it
    const proc = fakeProc({ self: { start: "100" }, "7": { start: "5" } });
    const runs = recordedRuns(dir, proc);
    expect(runs.map((r) => [r.pid, r.owner])).toEqual([[9, "dead"]]);
    const claim = claimRun(runs[0]!);
    expect(claim.claimed).toBe(true);
    claim.release(true);
    expect(readdirSync(dir).sort()).toEqual(["loopback-8-1.json.claimed-7", "loopback-9-1.json"]);
  });

  test("an unwritable directory is reported once and never thrown", () => {
    const blocker = join(temp(), "file");
    writeFileSync(blocker, "");
    const errors: unknown[] = [];
    const state = runState("lo", { dir: join(blocker, "sub"), proc: fakeProc({ self: { start: "1" } }), onError: (e) => errors.push(e) });
    state.record(A);
    state.record({ address: "169.254.170.2", prefixLength: 32 });
    expect(errors).toHaveLength(1);
  });

  test("the directory: the override, else /run/credproxy for root, else XDG_RUNTIME_DIR/credproxy", () => {
    expect(stateDirectory({ CREDPROXY_RUNTIME_DIR: "/x" }, 0)).toBe("/x");
    if (process.platform !== "linux") return;
    expect(stateDirectory({ XDG_RUNTIME_DIR: "/run/user/0" }, 0)).toBe("/run/credproxy");
    expect(stateDirectory({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000)).toBe("/run/user/1000/credproxy");
    expect(stateDirectory({}, 1000)).toBeUndefined();
  });
});
