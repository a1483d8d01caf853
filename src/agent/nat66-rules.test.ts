/** installNat() with an IPv6 pool against a fake runner: the NAT66 plans, forwarding, and falling back to IPv4 only. */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../log.ts";
import type { CommandRunner } from "./command-runner.ts";
import { installNat, type InstallNatOptions } from "./nat-rules.ts";

function fakeRunner(fails: (argv: string[]) => boolean = () => false) {
  const calls: { argv: string[]; stdin?: string | undefined }[] = [];
  const runner: CommandRunner = async (argv, stdin) => {
    calls.push({ argv: [...argv], stdin });
    if (argv.includes("-S") || argv.includes("list")) return { code: 1, stdout: "", stderr: "" };
    return fails([...argv]) ? { code: 1, stdout: "", stderr: "boom" } : { code: 0, stdout: "", stderr: "" };
  };
  return { calls, runner };
}

/** A temp /proc/sys/net/ipv4/ip_forward and /proc/sys/net/ipv6/conf with forwarding off. */
function sysFiles() {
  const dir = mkdtempSync(join(tmpdir(), "cp-nat66-"));
  writeFileSync(join(dir, "ip_forward"), "0\n");
  mkdirSync(join(dir, "conf", "all"), { recursive: true });
  writeFileSync(join(dir, "conf", "all", "forwarding"), "0\n");
  return { ipForwardFile: join(dir, "ip_forward"), ipv6ConfDir: join(dir, "conf"), forwarding6: () => readFileSync(join(dir, "conf", "all", "forwarding"), "utf8").trim() };
}

const base = (runner: CommandRunner, files: ReturnType<typeof sysFiles>): InstallNatOptions => ({
  pool: "100.64.0.0/24",
  pool6: "fd63:7078:1:2::/64",
  allowCidrs: ["10.0.0.0/8", "fd7a:115c::/64"],
  runner,
  ipForwardFile: files.ipForwardFile,
  ipv6ConfDir: files.ipv6ConfDir,
  log: createLogger({ write: () => undefined }),
});

describe("installNat() with an IPv6 pool", () => {
  test("nft: a second table inet credproxy_agent6 with ip6 rules, the IPv6 allow-list only; both tables go on remove", async () => {
    const { calls, runner } = fakeRunner();
    const files = sysFiles();
    const nat = await installNat({ ...base(runner, files), firewall: "nft", outInterface: "ens5" });
    expect(nat.ipv6Unavailable).toBeUndefined();
    const scripts = calls.filter((c) => c.stdin).map((c) => c.stdin!);
    expect(scripts[0]).toContain("ip saddr 100.64.0.0/24 ip daddr { 10.0.0.0/8 } accept");
    expect(scripts[1]).toBe(
      [
        "table inet credproxy_agent6 {",
        "  chain forward {",
        "    type filter hook forward priority 0; policy accept;",
        "    ip6 daddr fd63:7078:1:2::/64 ct state established,related accept",
        "    ip6 saddr fd63:7078:1:2::/64 ip6 daddr { fd7a:115c::/64 } accept",
        "    ip6 saddr fd63:7078:1:2::/64 drop",
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority 100; policy accept;",
        '    ip6 saddr fd63:7078:1:2::/64 oifname "ens5" masquerade',
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    expect(files.forwarding6()).toBe("1");
    calls.length = 0;
    await nat.remove();
    expect(calls.map((c) => c.argv.join(" "))).toEqual(["nft delete table inet credproxy_agent6", "nft delete table inet credproxy_agent"]);
    expect(files.forwarding6()).toBe("0");
  });

  test("iptables: the same chains in ip6tables, with MASQUERADE for the IPv6 pool", async () => {
    const { calls, runner } = fakeRunner();
    const nat = await installNat({ ...base(runner, sysFiles()), firewall: "iptables", which: () => "/usr/sbin/ip6tables" });
    const v6 = calls.map((c) => c.argv.join(" ")).filter((l) => l.startsWith("ip6tables") && !l.includes(" -S "));
    expect(v6).toEqual([
      "ip6tables -w 5 -t nat -N CREDPROXY-NAT",
      "ip6tables -w 5 -t nat -A CREDPROXY-NAT -s fd63:7078:1:2::/64 -j MASQUERADE",
      "ip6tables -w 5 -t nat -I POSTROUTING 1 -j CREDPROXY-NAT",
      "ip6tables -w 5 -t filter -N CREDPROXY-FWD",
      "ip6tables -w 5 -t filter -A CREDPROXY-FWD -d fd63:7078:1:2::/64 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "ip6tables -w 5 -t filter -A CREDPROXY-FWD -s fd63:7078:1:2::/64 -d fd7a:115c::/64 -j ACCEPT",
      "ip6tables -w 5 -t filter -A CREDPROXY-FWD -s fd63:7078:1:2::/64 -j DROP",
      "ip6tables -w 5 -t filter -I FORWARD 1 -j CREDPROXY-FWD",
    ]);
    expect(calls.some((c) => c.argv[0] === "iptables" && c.argv.includes("fd7a:115c::/64"))).toBe(false);
    await nat.remove();
  });

  test("without ip6tables, or when NAT66 fails, IPv4 still works and the reason is kept; nothing of IPv6 is left", async () => {
    const missing = fakeRunner();
    const files = sysFiles();
    const nat = await installNat({ ...base(missing.runner, files), firewall: "iptables", which: () => null });
    expect(nat.ipv6Unavailable).toMatch(/^ip6tables is not installed on the instance/);
    expect(missing.calls.some((c) => c.argv[0] === "ip6tables")).toBe(false);
    expect(files.forwarding6()).toBe("0");

    const failing = fakeRunner((argv) => argv[0] === "ip6tables" && argv.includes("MASQUERADE"));
    const partial = await installNat({ ...base(failing.runner, sysFiles()), firewall: "iptables", which: () => "/usr/sbin/ip6tables" });
    expect(partial.ipv6Unavailable).toMatch(/^the agent could not set up NAT66: .*MASQUERADE failed \(exit 1\): boom/);
    const after = failing.calls.slice(failing.calls.findIndex((c) => c.argv.includes("MASQUERADE") && c.argv[0] === "ip6tables") + 1).map((c) => c.argv.join(" "));
    expect(after).toEqual(["ip6tables -w 5 -t nat -F CREDPROXY-NAT", "ip6tables -w 5 -t nat -X CREDPROXY-NAT"]);
  });
});
