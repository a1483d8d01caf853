/**
 * installNat() against a fake runner: the argv and nft script it produces, leftover cleanup,
 * rollback and ip_forward handling on a temp file. The nft path is tested only this way
 * (nftables is not installed here); the iptables path also runs for real in
 * test/integration/nat-rules.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCredproxyError, ErrorCode } from "../errors.ts";
import { createLogger } from "../log.ts";
import type { CommandRunner } from "./command-runner.ts";
import { detectFirewall } from "./detect-firewall.ts";
import { installNat } from "./nat-rules.ts";

interface Call {
  argv: string[];
  stdin?: string | undefined;
}

/** Records every call; `fails` picks calls that exit 1, `exists` picks probes that exit 0. */
function fakeRunner(fails: (argv: string[]) => boolean = () => false, exists: (argv: string[]) => boolean = () => false) {
  const calls: Call[] = [];
  const runner: CommandRunner = async (argv, stdin) => {
    const a = [...argv];
    calls.push({ argv: a, stdin });
    const probe = a.includes("-S") || a.includes("list");
    if (probe) return { code: exists(a) ? 0 : 1, stdout: "", stderr: "" };
    return fails(a) ? { code: 1, stdout: "", stderr: "boom" } : { code: 0, stdout: "", stderr: "" };
  };
  return { calls, runner };
}

function forwardFile(value: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "cp-nat-")), "ip_forward");
  writeFileSync(file, `${value}\n`);
  return file;
}

function quietLog(lines: string[] = []) {
  return createLogger({ write: (line) => lines.push(line) });
}

const line = (c: Call) => c.argv.join(" ");

describe("detectFirewall()", () => {
  test("prefers nft when both binaries exist", () => {
    expect(detectFirewall(() => "/usr/sbin/x")).toBe("nft");
  });
  test("falls back to iptables without nft", () => {
    expect(detectFirewall((name) => (name === "iptables" ? "/usr/sbin/iptables" : null))).toBe("iptables");
  });
  test("without either it raises a platform error whose hint names both packages", () => {
    try {
      detectFirewall(() => null);
      throw new Error("no error");
    } catch (error) {
      expect(isCredproxyError(error, ErrorCode.Platform)).toBe(true);
      expect((error as { hint: string }).hint).toContain("nftables");
      expect((error as { hint: string }).hint).toContain("iptables");
    }
  });
});

describe("installNat() with iptables (fake runner)", () => {
  test("adds our chains with MASQUERADE, allow, drop and established rules, and jumps to them", async () => {
    const { calls, runner } = fakeRunner();
    const file = forwardFile("0");
    const nat = await installNat({ pool: "100.64.0.0/24", outInterface: "eth0", allowCidrs: ["10.0.0.0/8"], runner, firewall: "iptables", ipForwardFile: file, log: quietLog() });
    const changes = calls.filter((c) => !c.argv.includes("-S")).map(line);
    expect(changes).toEqual([
      "iptables -w 5 -t nat -N CREDPROXY-NAT",
      "iptables -w 5 -t nat -A CREDPROXY-NAT -s 100.64.0.0/24 -o eth0 -j MASQUERADE",
      "iptables -w 5 -t nat -I POSTROUTING 1 -j CREDPROXY-NAT",
      "iptables -w 5 -t filter -N CREDPROXY-FWD",
      "iptables -w 5 -t filter -A CREDPROXY-FWD -d 100.64.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "iptables -w 5 -t filter -A CREDPROXY-FWD -s 100.64.0.0/24 -d 10.0.0.0/8 -j ACCEPT",
      "iptables -w 5 -t filter -A CREDPROXY-FWD -s 100.64.0.0/24 -j DROP",
      "iptables -w 5 -t filter -I FORWARD 1 -j CREDPROXY-FWD",
    ]);
    expect(readFileSync(file, "utf8").trim()).toBe("1");
    calls.length = 0;
    await nat.remove();
    expect(calls.map(line)).toEqual([
      "iptables -w 5 -t filter -D FORWARD -j CREDPROXY-FWD",
      "iptables -w 5 -t filter -F CREDPROXY-FWD",
      "iptables -w 5 -t filter -X CREDPROXY-FWD",
      "iptables -w 5 -t nat -D POSTROUTING -j CREDPROXY-NAT",
      "iptables -w 5 -t nat -F CREDPROXY-NAT",
      "iptables -w 5 -t nat -X CREDPROXY-NAT",
    ]);
    expect(readFileSync(file, "utf8").trim()).toBe("0");
  });

  test("without allowCidrs the pool may go anywhere and nothing is dropped", async () => {
    const { calls, runner } = fakeRunner();
    await installNat({ pool: "100.64.0.0/24", runner, firewall: "iptables", ipForwardFile: forwardFile("1"), log: quietLog() });
    const forward = calls.map(line).filter((l) => l.includes("-A CREDPROXY-FWD"));
    expect(forward).toEqual([
      "iptables -w 5 -t filter -A CREDPROXY-FWD -d 100.64.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "iptables -w 5 -t filter -A CREDPROXY-FWD -s 100.64.0.0/24 -j ACCEPT",
    ]);
    expect(calls.map(line).some((l) => l.includes("-o "))).toBe(false);
  });

  test("a failing command mid-install rolls back what was added, leaves ip_forward alone and says which command", async () => {
    const { calls, runner } = fakeRunner((argv) => argv.includes("DROP"));
    const file = forwardFile("0");
    const error = await installNat({ pool: "100.64.0.0/24", allowCidrs: ["10.0.0.0/8"], runner, firewall: "iptables", ipForwardFile: file, log: quietLog() }).catch((e: unknown) => e);
    expect(isCredproxyError(error, ErrorCode.Platform)).toBe(true);
    expect((error as Error).message).toContain("-j DROP failed (exit 1): boom");
    const after = calls.slice(calls.findIndex((c) => c.argv.includes("DROP")) + 1).map(line);
    expect(after).toEqual([
      "iptables -w 5 -t filter -F CREDPROXY-FWD",
      "iptables -w 5 -t filter -X CREDPROXY-FWD",
      "iptables -w 5 -t nat -D POSTROUTING -j CREDPROXY-NAT",
      "iptables -w 5 -t nat -F CREDPROXY-NAT",
      "iptables -w 5 -t nat -X CREDPROXY-NAT",
    ]);
    expect(readFileSync(file, "utf8").trim()).toBe("0");
  });

  test("leftover chains from a crashed run are removed first, with a log line", async () => {
    const { calls, runner } = fakeRunner(() => false, (argv) => argv.includes("CREDPROXY-FWD"));
    const lines: string[] = [];
    await installNat({ pool: "100.64.0.0/24", runner, firewall: "iptables", ipForwardFile: forwardFile("1"), log: quietLog(lines) });
    const firstAdd = calls.findIndex((c) => c.argv.includes("-N"));
    const before = calls.slice(0, firstAdd).map(line);
    expect(before).toContain("iptables -w 5 -t filter -D FORWARD -j CREDPROXY-FWD");
    expect(before).toContain("iptables -w 5 -t filter -X CREDPROXY-FWD");
    expect(before.some((l) => l.includes("-X CREDPROXY-NAT"))).toBe(false);
    expect(lines.some((l) => l.includes("left by an earlier") && l.includes("CREDPROXY-FWD"))).toBe(true);
  });

  test("a bad pool, an IPv6 pool or an odd interface name is refused before any command runs", async () => {
    const { calls, runner } = fakeRunner();
    for (const options of [{ pool: "100.64.0.1/24" }, { pool: "fd00::/64" }, { pool: "100.64.0.0/24", outInterface: "eth0; rm" }]) {
      const error = await installNat({ ...options, runner, firewall: "iptables", ipForwardFile: forwardFile("0"), log: quietLog() }).catch((e: unknown) => e);
      expect(isCredproxyError(error, ErrorCode.Usage)).toBe(true);
    }
    expect(calls).toEqual([]);
  });
});

describe("installNat() with nft (fake runner only: nftables is not installed here)", () => {
  test("loads one table inet credproxy_agent by nft -f - and deletes it whole on remove", async () => {
    const { calls, runner } = fakeRunner();
    const file = forwardFile("0");
    const nat = await installNat({ pool: "100.64.0.0/24", outInterface: "ens5", allowCidrs: ["10.0.0.0/8", "192.168.1.0/24"], runner, firewall: "nft", ipForwardFile: file, log: quietLog() });
    expect(calls.map(line)).toEqual(["nft list table inet credproxy_agent", "nft -f -"]);
    expect(calls[1]!.stdin).toBe(
      [
        "table inet credproxy_agent {",
        "  chain forward {",
        "    type filter hook forward priority 0; policy accept;",
        "    ip daddr 100.64.0.0/24 ct state established,related accept",
        "    ip saddr 100.64.0.0/24 ip daddr { 10.0.0.0/8, 192.168.1.0/24 } accept",
        "    ip saddr 100.64.0.0/24 drop",
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority 100; policy accept;",
        '    ip saddr 100.64.0.0/24 oifname "ens5" masquerade',
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    expect(readFileSync(file, "utf8").trim()).toBe("1");
    calls.length = 0;
    await nat.remove();
    await nat.remove();
    expect(calls.map(line)).toEqual(["nft delete table inet credproxy_agent"]);
    expect(readFileSync(file, "utf8").trim()).toBe("0");
  });

  test("without allowCidrs the forward chain accepts the pool and drops nothing", async () => {
    const { calls, runner } = fakeRunner();
    await installNat({ pool: "100.64.0.0/24", runner, firewall: "nft", ipForwardFile: forwardFile("1"), log: quietLog() });
    const script = calls.find((c) => c.stdin)!.stdin!;
    expect(script).toContain("    ip saddr 100.64.0.0/24 accept\n");
    expect(script).not.toContain("drop");
    expect(script).toContain("    ip saddr 100.64.0.0/24 masquerade\n");
  });

  test("a leftover table is deleted before the new one is loaded, with a log line", async () => {
    const { calls, runner } = fakeRunner(() => false, () => true);
    const lines: string[] = [];
    await installNat({ pool: "100.64.0.0/24", runner, firewall: "nft", ipForwardFile: forwardFile("1"), log: quietLog(lines) });
    expect(calls.map(line)).toEqual(["nft list table inet credproxy_agent", "nft delete table inet credproxy_agent", "nft -f -"]);
    expect(lines.some((l) => l.includes("left by an earlier"))).toBe(true);
  });
});
