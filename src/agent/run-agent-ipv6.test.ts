/** runAgent()'s IPv6 decisions with the instance's IPv6 and the NAT faked: what it announces and warns. */
import { expect, test } from "bun:test";
import { createLogger } from "../log.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import type { InstallNatOptions } from "./nat-rules.ts";
import type { InstanceIpv6 } from "./ipv6-probe.ts";
import { runAgent } from "./run-agent.ts";

const DUAL_STACK: InstanceIpv6 = { globalAddresses: ["fd7a::1 on ens5"], defaultRouteVia: "ens5", inUse: [parseCidr("fd63:7078::/32") as Cidr] };

async function run(settings: { pool6?: string; ipv6?: boolean }, instance: InstanceIpv6 = DUAL_STACK) {
  const lines: string[] = [];
  const announced: string[] = [];
  const natCalls: InstallNatOptions[] = [];
  await runAgent({
    settings: { host: "127.0.0.1", port: 0, pool: "100.64.0.0/24", allowCidrs: undefined, dnsUpstream: "off", ...settings },
    logger: createLogger({ write: (line) => lines.push(line) }),
    stop: Promise.resolve("SIGTERM"),
    announce: (line) => announced.push(line),
    installNat: async (options) => {
      natCalls.push(options);
      return { firewall: "iptables", remove: async () => undefined };
    },
    readIpv6: () => instance,
  });
  return { lines, announced, natCalls };
}

test.skipIf(process.getuid?.() !== 0)("a --pool6 the instance already uses is warned about; a derived one steers clear of it", async () => {
  const given = await run({ pool6: "fd63:7078:1::/64" });
  expect(given.lines.some((l) => l.includes("--pool6 overlaps an address or route of this instance"))).toBe(true);
  expect(given.natCalls[0]!.pool6).toBe("fd63:7078:1::/64");
  const derived = await run({});
  expect(derived.natCalls[0]!.pool6).toMatch(/^fd[0-9a-f]{2}:/);
  expect(derived.lines.some((l) => l.includes("overlaps"))).toBe(false);
  expect(derived.announced[0]).toContain(`IPv6 pool ${derived.natCalls[0]!.pool6}`);
});

test.skipIf(process.getuid?.() !== 0)("without an IPv6 default route, or with --no-ipv6, no NAT66 is asked for and the ready line says why", async () => {
  const none = await run({}, { ...DUAL_STACK, defaultRouteVia: undefined });
  expect(none.natCalls[0]!.pool6).toBeUndefined();
  expect(none.announced[0]).toMatch(/, IPv6 not available: the instance has no IPv6 default route, DNS /);
  const off = await run({ ipv6: false });
  expect(off.announced[0]).toMatch(/, IPv6 not available: IPv6 is turned off on the agent \(--no-ipv6\), DNS /);
});
