import { expect, test } from "bun:test";
import { instanceIpv6, ipv6Unavailable } from "./ipv6-probe.ts";

const IF_INET6 = `00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     ens5
26001f18000000aa0000000000000005 04 80 00 80     ens5
`;
const ROUTES = `26001f18000000aa0000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     ens5
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     ens5
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00000003     ens5
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`;

test("a dual-stack instance: its global address, the default route's interface and the prefixes in use", () => {
  const info = instanceIpv6(IF_INET6, ROUTES);
  expect(info.globalAddresses).toEqual(["2600:1f18:0:aa::5 on ens5"]);
  expect(info.defaultRouteVia).toBe("ens5");
  expect(info.inUse.map((c) => c.text)).toEqual(["::1/128", "fe80::/64", "2600:1f18:0:aa::5/128", "2600:1f18:0:aa::/64", "fe80::/64"]);
  expect(ipv6Unavailable(info)).toBeUndefined();
});

test("no global address, or only the kernel's reject default on lo, is IPv6 not available, with why", () => {
  expect(ipv6Unavailable(instanceIpv6(IF_INET6.split("\n").slice(0, 2).join("\n"), ROUTES))).toMatch(/^the instance has no global IPv6 address/);
  expect(ipv6Unavailable(instanceIpv6(IF_INET6, ROUTES.split("\n").filter((l) => !l.includes("fe800000000000000000000000000001")).join("\n")))).toBe("the instance has no IPv6 default route");
  expect(ipv6Unavailable(instanceIpv6("", ""))).toMatch(/no global IPv6 address/);
});
