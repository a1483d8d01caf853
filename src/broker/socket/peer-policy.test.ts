import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";
import { CredproxyError } from "../../errors.ts";
import type { PeerCred } from "../../net/peer-credentials.ts";
import { parseStatParentPid, parseStatStartTime } from "../../net/proc-stat.ts";
import { PeerPolicy, canonicalExecutable, procProcessTable, type ProcessTable } from "./peer-policy.ts";

const ME = 1000;
const peer = (pid: number, uid = ME, gid = ME): PeerCred => ({ pid, uid, gid });

/** A fake process tree: pid → [parent, executable, start time (default "1")]. */
function table(entries: Record<number, [number, string, string?]>): ProcessTable & { reads: number } {
  const t = {
    reads: 0,
    executable(pid: number) {
      t.reads++;
      return entries[pid]?.[1];
    },
    parentPid(pid: number) {
      t.reads++;
      return entries[pid]?.[0];
    },
    startTime(pid: number) {
      t.reads++;
      const entry = entries[pid];
      return entry === undefined ? undefined : (entry[2] ?? "1");
    },
  };
  return t;
}

// 1 init → 100 shell → 200 aws → 300 python plugin; 400 is unrelated (child of init).
const TREE = table({
  1: [0, "/sbin/init"],
  100: [1, "/usr/bin/bash"],
  200: [100, "/usr/bin/python3.12"],
  300: [200, "/usr/bin/python3.12"],
  400: [1, "/usr/bin/curl"],
});

describe("PeerPolicy", () => {
  test("by default only the broker's own uid is allowed", () => {
    const policy = PeerPolicy.create({}, ME);
    expect(policy.check(peer(200), TREE)).toEqual({ allowed: true });
    const other = policy.check(peer(200, 65534, 65534), TREE);
    expect(other.allowed).toBe(false);
    expect(other).toMatchObject({ reason: "uid 65534 is not allowed (allowed: 1000)" });
  });

  test("root is refused like anyone else unless listed", () => {
    expect(PeerPolicy.create({}, ME).check(peer(200, 0, 0), TREE).allowed).toBe(false);
    expect(PeerPolicy.create({ allowUids: [0, ME] }, ME).check(peer(200, 0, 0), TREE).allowed).toBe(true);
  });

  test("--allow-uid replaces the default rather than adding to it", () => {
    const policy = PeerPolicy.create({ allowUids: [1001] }, ME);
    expect(policy.check(peer(200, 1001), TREE).allowed).toBe(true);
    expect(policy.check(peer(200, ME), TREE).allowed).toBe(false);
  });

  test("the uid check alone never reads the process table", () => {
    const t = table({});
    PeerPolicy.create({}, ME).check(peer(12345), t);
    expect(t.reads).toBe(0);
  });

  test("an executable allow-list compares the peer's canonical executable path", () => {
    const policy = PeerPolicy.create({ allowExes: ["/usr/bin/python3.12"] }, ME);
    expect(policy.check(peer(300), TREE)).toEqual({ allowed: true });
    expect(policy.check(peer(400), TREE)).toEqual({ allowed: false, reason: "executable /usr/bin/curl is not allowed" });
  });

  test("an executable that cannot be read, or was replaced on disk, is refused", () => {
    const policy = PeerPolicy.create({ allowExes: ["/usr/bin/python3.12"] }, ME);
    expect(policy.check(peer(999), TREE)).toEqual({ allowed: false, reason: "cannot read the executable of pid 999" });
    const replaced = table({ 500: [1, "/usr/bin/python3.12 (deleted)"] });
    expect(policy.check(peer(500), replaced).allowed).toBe(false);
  });

  test("the uid is checked before the executable", () => {
    const policy = PeerPolicy.create({ allowExes: ["/usr/bin/python3.12"] }, ME);
    expect(policy.check(peer(300, 65534), TREE)).toMatchObject({ allowed: false, reason: expect.stringContaining("uid 65534") });
  });

  test("descendantOf admits the process itself and everything below it, nothing else", () => {
    const policy = PeerPolicy.create({ descendantOf: 100 }, ME);
    expect(policy.check(peer(100), TREE).allowed).toBe(true);
    expect(policy.check(peer(200), TREE).allowed).toBe(true);
    expect(policy.check(peer(300), TREE).allowed).toBe(true);
    expect(policy.check(peer(400), TREE)).toEqual({ allowed: false, reason: "pid 400 is not process 100 or one of its descendants" });
    expect(policy.check(peer(1), TREE).allowed).toBe(false);
  });

  test("descendantOf refuses everyone once that process has exited, even when its pid is reused", () => {
    const policy = PeerPolicy.create({ descendantOf: 100, descendantStart: "1" }, ME);
    expect(policy.check(peer(200), TREE).allowed).toBe(true);
    // 100 exited and an unrelated process got pid 100 later (start time 9), with 200 below it.
    const reused = table({ 1: [0, "/sbin/init"], 100: [1, "/usr/bin/bash", "9"], 200: [100, "/usr/bin/python3.12"] });
    expect(policy.check(peer(200), reused)).toEqual({
      allowed: false,
      reason: "process 100 has exited, so no process descends from it (its pid may now be another's)",
    });
    expect(policy.check(peer(200), table({ 200: [1, "/usr/bin/python3.12"] })).allowed).toBe(false);
  });

  test("an ancestry walk that breaks off (a vanished parent) or loops is refused", () => {
    const policy = PeerPolicy.create({ descendantOf: 100 }, ME);
    expect(policy.check(peer(700), table({ 700: [650, "/x"] })).allowed).toBe(false);
    expect(policy.check(peer(700), table({ 700: [800, "/x"], 800: [700, "/x"] })).allowed).toBe(false);
  });

  test("exe and ancestry checks refuse a peer whose pid is not visible (pid 0)", () => {
    const policy = PeerPolicy.create({ descendantOf: 1 }, ME);
    expect(policy.check(peer(0), TREE)).toMatchObject({ allowed: false, reason: expect.stringContaining("pid namespace") });
    expect(PeerPolicy.create({}, ME).check(peer(0), TREE).allowed).toBe(true);
  });

  test("all conditions must hold together", () => {
    const policy = PeerPolicy.create({ allowUids: [ME], allowExes: ["/usr/bin/python3.12"], descendantOf: 200 }, ME);
    expect(policy.check(peer(300), TREE).allowed).toBe(true);
    expect(policy.check(peer(200), TREE).allowed).toBe(true);
    expect(policy.check(peer(100), TREE).allowed).toBe(false); // bash, and above 200
  });

  test("create() rejects malformed input with usage errors", () => {
    expect(() => PeerPolicy.create({ allowUids: [-1] }, ME)).toThrow(CredproxyError);
    expect(() => PeerPolicy.create({ allowUids: [1.5] }, ME)).toThrow("is not a user id");
    expect(() => PeerPolicy.create({ allowUids: [2 ** 32 - 1] }, ME)).toThrow("is not a user id");
    expect(() => PeerPolicy.create({ allowExes: ["python3"] }, ME)).toThrow("is not absolute");
    expect(() => PeerPolicy.create({ descendantOf: 0 }, ME)).toThrow("is not a process id");
  });

  test("explain() says what is allowed in one line", () => {
    expect(PeerPolicy.create({}, ME).explain()).toBe("uid 1000");
    expect(PeerPolicy.create({ allowUids: [1000, 1001, 1000], allowExes: ["/usr/bin/python3.12"], descendantOf: 42 }, ME).explain()).toBe(
      "uids 1000, 1001; executable /usr/bin/python3.12; process 42 and its descendants",
    );
  });

  test("a policy is frozen", () => {
    const policy = PeerPolicy.create({ allowUids: [ME] }, ME);
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.allowUids)).toBe(true);
  });
});

describe("parseStatStartTime", () => {
  test("reads field 22 after a command name with spaces and parentheses", () => {
    const tail = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 19 20";
    expect(parseStatStartTime(`1234 (a) b) ${tail}`)).toBe("424242");
    expect(parseStatStartTime("1234 (short) S 1")).toBeUndefined();
  });

  test("matches this process's own /proc entry, and stays the same between reads", () => {
    const table = procProcessTable();
    const first = table.startTime(process.pid);
    expect(first).toMatch(/^\d+$/);
    expect(table.startTime(process.pid)).toBe(first!);
  });
});

describe("parseStatParentPid", () => {
  test("reads field 4 even when the command name holds spaces and parentheses", () => {
    expect(parseStatParentPid("1234 (bash) S 1200 1234 1234 0 -1")).toBe(1200);
    expect(parseStatParentPid("1234 (a) b) (c) R 77 1 1 0")).toBe(77);
    expect(parseStatParentPid("1 (systemd) S 0 1 1 0")).toBe(0);
  });

  test("malformed text gives undefined", () => {
    expect(parseStatParentPid("garbage")).toBeUndefined();
    expect(parseStatParentPid("1 (x)")).toBeUndefined();
  });
});

describe("procProcessTable", () => {
  test("reads this process's executable and parent from the real /proc", () => {
    const procs = procProcessTable();
    expect(procs.parentPid(process.pid)).toBe(process.ppid);
    expect(procs.executable(process.pid)).toBe(canonicalExecutable(process.execPath));
  });

  test("reads a fake /proc tree, and gives undefined for what is missing", () => {
    const root = tempDirSync("credproxy-proc-");
    mkdirSync(join(root, "42"));
    writeFileSync(join(root, "42", "stat"), "42 (my prog) S 7 42 42 0\n");
    symlinkSync("/usr/bin/env", join(root, "42", "exe"));
    const procs = procProcessTable(root);
    expect(procs.parentPid(42)).toBe(7);
    expect(procs.executable(42)).toBe("/usr/bin/env");
    expect(procs.parentPid(43)).toBeUndefined();
    expect(procs.executable(43)).toBeUndefined();
  });
});

describe("canonicalExecutable", () => {
  test("resolves symlinks the way /proc/<pid>/exe reports them", () => {
    const dir = tempDirSync("credproxy-exe-");
    const link = join(dir, "tool");
    symlinkSync(process.execPath, link);
    expect(canonicalExecutable(link)).toBe(canonicalExecutable(process.execPath));
  });

  test("a path that does not exist is a usage error", () => {
    expect(() => canonicalExecutable("/nonexistent/credproxy-test-binary")).toThrow("does not exist");
  });
});
