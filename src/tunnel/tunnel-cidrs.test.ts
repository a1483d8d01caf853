import { expect, test } from "bun:test";
import { checkTunnelCidr, checkTunnelCidrs } from "./tunnel-cidrs.ts";

const problem = (text: string) => {
  const result = checkTunnelCidr(text);
  return "problem" in result ? result.problem : undefined;
};

test("IPv6 VPC ranges pass in canonical form", () => {
  expect(checkTunnelCidr("2001:DB8:0:0::/56")).toMatchObject({ family: 6, prefix: 56, text: "2001:db8::/56" });
  expect(checkTunnelCidr("fd7a:115c::/48")).toMatchObject({ family: 6, text: "fd7a:115c::/48" });
  expect(checkTunnelCidr("fd7a:115c::10")).toMatchObject({ prefix: 128 });
});

test("IPv6 mistakes are refused with what to write instead", () => {
  expect(problem("::/0")).toMatch(/^::\/0 is a default route: .* fd00::\/8 or the VPC's \/56/);
  expect(problem("::1/128")).toBe("::1/128 overlaps loopback, which never leaves this host");
  expect(problem("fe80::/64")).toMatch(/overlaps fe80::\/10, which is link-local/);
  expect(problem("ff02::1")).toMatch(/overlaps ff00::\/8, which is multicast/);
  expect(problem("::ffff:10.0.0.0/104")).toMatch(/IPv4-mapped: give the IPv4 range itself/);
  expect(problem("8000::/1")).toMatch(/overlaps fe80::\/10/);
  expect(problem("fd00::1/64")).toBe("fd00::1/64 has host bits set; write fd00::/64");
});

test("the IPv4 rules are unchanged and duplicates are caught across spellings", () => {
  expect(problem("0.0.0.0/0")).toMatch(/e\.g\. 10\.0\.0\.0\/8/);
  const { cidrs, problems } = checkTunnelCidrs(["10.0.0.0/16", "fd00:1::/64", "FD00:1:0::/64"]);
  expect(cidrs.map((c) => c.text)).toEqual(["10.0.0.0/16", "fd00:1::/64"]);
  expect(problems).toEqual([{ index: 2, problem: "fd00:1::/64 is given twice" }]);
});
