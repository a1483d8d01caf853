import { describe, expect, test } from "bun:test";
import { agentSettings } from "./agent-settings.ts";

describe("credproxy agent's flags", () => {
  test("without flags: 127.0.0.1:7860, pool 100.64.0.0/24, clients may reach everything", () => {
    expect(agentSettings({})).toEqual({ host: "127.0.0.1", port: 7860, pool: "100.64.0.0/24", allowCidrs: undefined });
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
});
