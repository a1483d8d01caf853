import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentUnit, execLine, hiddenByUnit, UNIT_NAME } from "./systemd-unit.ts";

const ARGS = ["agent", "--listen", "127.0.0.1:7860", "--allow-cidr", "10.0.0.0/8"];

/** systemd's own parser: prints a line per unknown key, bad value or missing executable. */
function verify(unit: string): { code: number; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "cp-unit-"));
  writeFileSync(join(dir, UNIT_NAME), unit);
  const r = Bun.spawnSync(["systemd-analyze", "verify", join(dir, UNIT_NAME)], { stderr: "pipe", stdout: "pipe" });
  return { code: r.exitCode, stderr: r.stderr.toString().trim() };
}

describe("agentUnit()", () => {
  const unit = agentUnit({ binary: "/usr/local/bin/credproxy", args: ARGS });
  const lines = unit.split("\n");

  test("runs the binary with the agent's flags, as root with only the network capabilities", () => {
    expect(lines).toContain("ExecStart=/usr/local/bin/credproxy agent --listen 127.0.0.1:7860 --allow-cidr 10.0.0.0/8");
    expect(lines).toContain("User=root");
    expect(lines).toContain("CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE");
    expect(unit).not.toContain("AmbientCapabilities");
    expect(unit).not.toContain("DynamicUser");
    expect(unit).not.toContain("PrivateDevices");
    expect(unit).not.toContain("MemoryDenyWriteExecute");
  });

  test("has the hardening the issue asks for, the TUN device and the one writable sysctl", () => {
    for (const line of [
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "UMask=0077",
      "ProtectKernelModules=yes",
      "ProtectKernelTunables=yes",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX",
      "DevicePolicy=closed",
      "DeviceAllow=/dev/net/tun rw",
      "ReadWritePaths=/proc/sys/net/ipv4/ip_forward -/proc/sys/net/ipv6/conf /run",
      "Restart=on-failure",
      "WantedBy=multi-user.target",
    ]) {
      expect(lines).toContain(line);
    }
  });

  test("systemd-analyze verify accepts every directive without a warning", () => {
    expect(verify(agentUnit({ binary: process.execPath, args: ARGS }))).toEqual({ code: 0, stderr: "" });
  });

  test("systemd-analyze security rates its exposure below 5 (OK or better), root and the host network notwithstanding", () => {
    const dir = mkdtempSync(join(tmpdir(), "cp-unit-"));
    writeFileSync(join(dir, UNIT_NAME), agentUnit({ binary: process.execPath, args: ARGS }));
    const r = Bun.spawnSync(["systemd-analyze", "security", "--offline=yes", join(dir, UNIT_NAME)], { stdout: "pipe", stderr: "pipe" });
    const level = /Overall exposure level for credproxy-agent\.service: (\d+\.\d+)/.exec(r.stdout.toString())?.[1];
    expect(level).toBeDefined();
    expect(Number(level)).toBeLessThan(5);
  });

  test("the verify check above would see a mistake (an unknown key, a bad address family)", () => {
    const broken = agentUnit({ binary: process.execPath, args: ARGS }).replace("LockPersonality=yes", "LockPersonalty=yes\nRestrictAddressFamilies=AF_BOGUS");
    const result = verify(broken);
    expect(result.stderr).toContain("Unknown key");
    expect(result.stderr).toContain("AF_BOGUS");
  });
});

describe("execLine()", () => {
  test("leaves plain words bare", () => {
    expect(execLine(["/opt/credproxy/bin/credproxy", "agent", "--pool", "100.64.0.0/16"])).toBe("/opt/credproxy/bin/credproxy agent --pool 100.64.0.0/16");
  });

  test("quotes spaces, quotes and backslashes, and doubles % and $ so systemd passes them through", () => {
    expect(execLine(['/opt/my tools/cred"proxy', "a\\b", "100%", "$HOME"])).toBe('"/opt/my tools/cred\\"proxy" "a\\\\b" 100%% $$HOME');
  });

  test("a word systemd would read as a command separator is quoted", () => {
    expect(execLine(["/bin/x", ";"])).toBe('/bin/x ";"');
  });

  test("refuses control characters, which a unit line cannot hold", () => {
    expect(() => execLine(["/bin/x\nExecStartPre=/bin/evil"])).toThrow("control character");
  });

  test("systemd reads a quoted path with a space back as one argument", () => {
    const dir = mkdtempSync(join(tmpdir(), "cp unit "));
    const binary = join(dir, "credproxy");
    writeFileSync(binary, "#!/bin/sh\n", { mode: 0o755 });
    expect(verify(agentUnit({ binary, args: ARGS }))).toEqual({ code: 0, stderr: "" });
  });
});

describe("hiddenByUnit()", () => {
  test("names the directive that hides a binary in a home or temp directory", () => {
    expect(hiddenByUnit("/home/ana/bin/credproxy")).toEqual({ dir: "/home", by: "ProtectHome=yes" });
    expect(hiddenByUnit("/root/credproxy")).toEqual({ dir: "/root", by: "ProtectHome=yes" });
    expect(hiddenByUnit("/tmp/x/credproxy")).toEqual({ dir: "/tmp", by: "PrivateTmp=yes" });
  });

  test("leaves the usual install locations alone (and a directory that only starts alike)", () => {
    for (const path of ["/usr/local/bin/credproxy", "/opt/credproxy/credproxy", "/homer/credproxy", "/usr/bin/credproxy"]) expect(hiddenByUnit(path)).toBeUndefined();
  });
});

describe("agentUnit() in socks mode", () => {
  const unit = agentUnit({ binary: process.execPath, args: [...ARGS, "--mode", "socks"], mode: "socks" });
  const lines = unit.split("\n");

  test("runs as a dynamic unprivileged user with no capabilities, no devices and nothing writable", () => {
    expect(lines).toContain("DynamicUser=yes");
    expect(lines).toContain("CapabilityBoundingSet=");
    expect(lines).toContain("PrivateDevices=yes");
    expect(unit).not.toContain("User=root");
    expect(unit).not.toContain("/dev/net/tun");
    expect(unit).not.toContain("ReadWritePaths");
    expect(lines.find((l) => l.startsWith("ExecStart="))).toEndWith("--mode socks");
  });

  test("systemd-analyze verify accepts it without a warning", () => {
    expect(verify(unit)).toEqual({ code: 0, stderr: "" });
  });
});
