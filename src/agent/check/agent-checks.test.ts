import { describe, expect, test } from "bun:test";
import { checkFirewall, checkIpv6, checkIpForward, checkLine, checkListen, checkPrivileges, checkSsmAgent, checksPassed, checkSummary, checkTun, type CheckResult } from "./agent-checks.ts";

const LISTEN = { host: "127.0.0.1", port: 7860 };
const err = (code: string) => ({ code, message: `${code}: something` });

describe("the checks, one verdict each", () => {
  test("privileges: root or CAP_NET_ADMIN passes; root without the capability or a plain user fails", () => {
    expect(checkPrivileges({ uid: 0, netAdmin: true })).toMatchObject({ status: "ok", detail: "running as root" });
    expect(checkPrivileges({ uid: 1000, netAdmin: true })).toMatchObject({ status: "ok", detail: "uid 1000 with CAP_NET_ADMIN" });
    expect(checkPrivileges({ uid: 0, netAdmin: false })).toMatchObject({ status: "fail", detail: expect.stringContaining("not in the effective set") });
    expect(checkPrivileges({ uid: 1000, netAdmin: false }).hint).toContain("root");
  });

  test("tun: a missing device points at the module and containers, a refused one at root and DeviceAllow", () => {
    expect(checkTun(undefined).status).toBe("ok");
    expect(checkTun(err("ENOENT")).hint).toContain("modprobe tun");
    expect(checkTun(err("EPERM"))).toMatchObject({ status: "fail", detail: "cannot open /dev/net/tun: EPERM", hint: expect.stringContaining("DeviceAllow") });
  });

  test("firewall: nft wins over iptables; neither fails naming both packages", () => {
    expect(checkFirewall({ nft: "/usr/sbin/nft", iptables: "/usr/sbin/iptables" }).detail).toStartWith("nft (/usr/sbin/nft)");
    expect(checkFirewall({ nft: null, iptables: "/usr/sbin/iptables" }).detail).toStartWith("iptables");
    const none = checkFirewall({ nft: null, iptables: null });
    expect(none.status).toBe("fail");
    expect(none.hint).toContain("nftables");
    expect(none.hint).toContain("iptables");
  });

  test("ip-forward: writable says what it is now; read-only /proc/sys gets the ReadWritePaths hint", () => {
    expect(checkIpForward({ value: "0" }).detail).toContain("now 0; the agent turns it on");
    expect(checkIpForward({ value: "1" }).detail).toContain("on already");
    expect(checkIpForward(err("EROFS")).hint).toContain("ReadWritePaths=/proc/sys/net/ipv4/ip_forward");
    expect(checkIpForward(err("EACCES"))).toMatchObject({ status: "fail", hint: expect.stringContaining("root") });
  });

  test("listen: a port in use, an address not here and a low port each get their own hint", () => {
    expect(checkListen(LISTEN, undefined)).toMatchObject({ status: "ok", detail: "127.0.0.1:7860 is free" });
    expect(checkListen(LISTEN, err("EADDRINUSE")).hint).toContain("systemctl status credproxy-agent");
    expect(checkListen(LISTEN, err("EADDRNOTAVAIL")).hint).toContain("ip link set lo up");
    expect(checkListen({ host: "::1", port: 80 }, err("EACCES"))).toMatchObject({ detail: "cannot listen on [::1]:80: EACCES", hint: expect.stringContaining("1024") });
  });

  test("ssm-agent: a process or an active unit is ok; inactive units fail; nothing to ask is unknown; never required", () => {
    expect(checkSsmAgent({ process: "amazon-ssm-agent (pid 9)", units: undefined })).toMatchObject({ status: "ok", required: false });
    expect(checkSsmAgent({ process: undefined, units: { "a.service": "inactive", "snap.b.service": "active" } })).toMatchObject({ status: "ok", detail: "snap.b.service is active" });
    expect(checkSsmAgent({ process: undefined, units: { "a.service": "inactive" } })).toMatchObject({ status: "fail", detail: "not running (a.service inactive)" });
    expect(checkSsmAgent({ process: undefined, units: undefined })).toMatchObject({ status: "unknown", required: false });
  });
});

describe("report", () => {
  const ok: CheckResult = { name: "tun", status: "ok", required: true, detail: "/dev/net/tun opens", hint: "unused" };
  const failed: CheckResult = { name: "listen", status: "fail", required: true, detail: "cannot listen", hint: "pick another" };
  const unknown: CheckResult = { name: "ssm-agent", status: "unknown", required: false, detail: "no systemd", hint: "install it" };

  test("one line per check: status, name, detail, and the hint only when something is wrong", () => {
    expect(checkLine(ok)).toBe("ok       tun         /dev/net/tun opens");
    expect(checkLine(failed)).toBe("FAIL     listen      cannot listen; hint: pick another");
    expect(checkLine(unknown)).toBe("unknown  ssm-agent   no systemd (advisory); hint: install it");
  });

  test("passes only when every required check is ok; advisory ones do not count", () => {
    expect(checksPassed([ok, unknown])).toBe(true);
    expect(checksPassed([ok, failed, unknown])).toBe(false);
    expect(checkSummary([ok, unknown])).toBe("agent check: every required check passed");
    expect(checkSummary([ok, failed, unknown])).toBe("agent check: 1 of 2 required checks failed (listen)");
  });
});

describe("checkIpv6()", () => {
  test("a global address and a default route: ok, IPv6 for clients", () => {
    expect(checkIpv6({ globalAddresses: ["2600:1f18::5 on ens5"], defaultRouteVia: "ens5" }, undefined)).toMatchObject({ status: "ok", required: false, detail: "2600:1f18::5 on ens5; default route via ens5: clients get IPv6 through the tunnel" });
  });
  test("without: advice, not a failure of the check as a whole, saying clients get IPv4 only", () => {
    const result = checkIpv6({ globalAddresses: [], defaultRouteVia: undefined }, "the instance has no IPv6 default route");
    expect(result).toMatchObject({ status: "fail", required: false, detail: "the instance has no IPv6 default route: clients get IPv4 only, and are told IPv6 is not available" });
    expect(result.hint).toContain("dual-stack subnet");
  });
});
