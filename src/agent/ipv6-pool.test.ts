import { describe, expect, test } from "bun:test";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { createAddressPool } from "./address-pool.ts";
import { checkIpv6Pool, derivedIpv6Pool } from "./ipv6-pool.ts";

const cidr = (text: string) => parseCidr(text) as Cidr;

describe("the agent's IPv6 tunnel prefix", () => {
  test("the derived /64 is a ULA, stable for one machine id and different for another", () => {
    const a = derivedIpv6Pool("0123456789abcdef0123456789abcdef");
    expect(a).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    expect(derivedIpv6Pool("0123456789abcdef0123456789abcdef\n")).toBe(a);
    expect(derivedIpv6Pool("fedcba9876543210fedcba9876543210")).not.toBe(a);
  });

  test("a subnet a route or address of the instance covers is skipped for the next", () => {
    const first = derivedIpv6Pool("m");
    const covering = cidr(first.replace("/64", "/60"));
    const next = derivedIpv6Pool("m", [covering]);
    expect(next).not.toBe(first);
    expect(next.split(":").slice(0, 3)).toEqual(first.split(":").slice(0, 3));
    expect(derivedIpv6Pool("m", [cidr("2001:db8::/32")])).toBe(first);
  });

  test("--pool6 must be a unique local /48 to /96", () => {
    expect(checkIpv6Pool("fd63:7078:1:2::/64").text).toBe("fd63:7078:1:2::/64");
    expect(() => checkIpv6Pool("2001:db8::/64")).toThrow(/inside fd00::\/8/);
    expect(() => checkIpv6Pool("fd63::/32")).toThrow(/a \/32; give a \/48 to \/96/);
    expect(() => checkIpv6Pool("10.0.0.0/24")).toThrow(/must be IPv6/);
    expect(() => checkIpv6Pool("fd63::1/64")).toThrow(/host bits set/);
  });

  test("leases carry the IPv6 pair at the index of their IPv4 pair", () => {
    const pool = createAddressPool("100.64.0.0/24", "fd63:7078:1:2::/64");
    expect(pool.cidr6).toBe("fd63:7078:1:2::/64");
    const first = pool.acquire()!;
    const second = pool.acquire()!;
    expect([first.agentAddress6, first.clientAddress6]).toEqual(["fd63:7078:1:2::2", "fd63:7078:1:2::3"]);
    expect([second.agentAddress6, second.clientAddress6]).toEqual(["fd63:7078:1:2::4", "fd63:7078:1:2::5"]);
    expect(createAddressPool("100.64.0.0/24").acquire()!.clientAddress6).toBeUndefined();
  });
});
