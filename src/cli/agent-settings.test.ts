import { describe, expect, test } from "bun:test";
import { agentSettings } from "./agent-settings.ts";

describe("credproxy agent's flags", () => {
  test("without flags: 127.0.0.1:7860, pool 100.64.0.0/24, clients may reach everything", () => {
    expect(agentSettings({})).toEqual({ host: "127.0.0.1", port: 7860, pool: "100.64.0.0/24", allowCidrs: undefined, dnsUpstream: undefined, mode: "tun" });
  });

  test("--listen takes an IPv4 address, a bracketed IPv6 one or localhost, with a port", () => {
    expect(agentSettings({ listen: "[::1]:7861" })).toMatchObject({ host: "::1", port: 7861 });
    expect(agentSettings({ listen: "localhost:0" })).toMatchObject({ host: "localhost", port: 0 });
  });

  test("a bad --listen names the flag, the value and the form to write", () => {
    expect(() => agentSettings({ listen: "7860" })).toThrow('agent: --listen "7860": not HOST:PORT; write HOST:PORT, e.g. --listen 127.0.0.1:7860');
    expect(() => agentSettings({ listen: "127.0.0.1:70000" })).toThrow("port 70000 is above 65535");
    expect(() => agentSettings({ listen: "[10.0.0.1]:7860" })).toThrow("brackets are for IPv6 addresses only");
    expect(() => agentSettings({ listen: "agent.invalid:7860" })).toThrow('"agent.invalid" is not an IP address');
  });

  test("--allow-cidr is repeatable, IPv4 or IPv6, and refuses host bits with the range to write instead", () => {
    expect(agentSettings({ "allow-cidr": ["10.99.0.0/24", "172.16.0.0/12", "FD7A:115C::/64"] }).allowCidrs?.map((c) => c.text)).toEqual(["10.99.0.0/24", "172.16.0.0/12", "fd7a:115c::/64"]);
    expect(() => agentSettings({ "allow-cidr": ["10.99.0.1/24"] })).toThrow('agent: --allow-cidr "10.99.0.1/24": 10.99.0.1/24 has host bits set; write 10.99.0.0/24');
  });

  test("--pool6 is a unique local prefix; --no-ipv6 turns IPv6 off; not both", () => {
    expect(agentSettings({ pool6: "fd63:7078:1:2::/64" })).toMatchObject({ pool6: "fd63:7078:1:2::/64" });
    expect(agentSettings({ "no-ipv6": true })).toMatchObject({ ipv6: false });
    expect(() => agentSettings({ pool6: "2001:db8::/64" })).toThrow(/--pool6 "2001:db8::\/64": must lie inside fd00::\/8/);
    expect(() => agentSettings({ pool6: "fd63:7078:1:2::/64", "no-ipv6": true })).toThrow("--pool6 and --no-ipv6 contradict each other");
  });

  test("--pool must be an IPv4 range with room for a pair", () => {
    expect(agentSettings({ pool: "100.100.0.0/28" }).pool).toBe("100.100.0.0/28");
    expect(() => agentSettings({ pool: "100.64.0.9/32" })).toThrow('agent: --pool "100.64.0.9/32"');
  });

  test("--mode is tun by default, socks on request, and anything else is a usage error naming both", () => {
    expect(agentSettings({ mode: "socks" }).mode).toBe("socks");
    expect(agentSettings({ mode: "tun" }).mode).toBe("tun");
    expect(() => agentSettings({ mode: "tap" })).toThrow('agent: --mode "tap": write tun');
  });

  test("--dns-upstream takes an address (port 53) or HOST:PORT; --no-dns-forward turns the forwarder off", () => {
    expect(agentSettings({ "dns-upstream": "10.0.0.2" }).dnsUpstream).toEqual({ host: "10.0.0.2", port: 53 });
    expect(agentSettings({ "dns-upstream": "10.99.0.2:5353" }).dnsUpstream).toEqual({ host: "10.99.0.2", port: 5353 });
    expect(agentSettings({ "dns-upstream": "fd00::2" }).dnsUpstream).toEqual({ host: "fd00::2", port: 53 });
    expect(agentSettings({ "dns-upstream": "[fd00::2]:54" }).dnsUpstream).toEqual({ host: "fd00::2", port: 54 });
    expect(agentSettings({ "no-dns-forward": true }).dnsUpstream).toBe("off");
    expect(() => agentSettings({ "dns-upstream": "resolver.invalid" })).toThrow('--dns-upstream "resolver.invalid": "resolver.invalid" is not an IP address');
    expect(() => agentSettings({ "dns-upstream": "10.0.0.2:0" })).toThrow("port 0 is not from 1 to 65535");
    expect(() => agentSettings({ "dns-upstream": "10.0.0.2", "no-dns-forward": true })).toThrow("not both");
  });
});
