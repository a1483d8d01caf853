/**
 * openTun() for real, in a network namespace this file creates and removes: a TUN device with
 * 100.64.0.1 peer 100.64.0.2, MTU 1400 and a route for 10.99.0.0/24 reads the UDP datagram a
 * socket in the namespace sends to 10.99.0.5, a crafted reply written into it reaches the
 * socket, and close() leaves no device, address or route behind. Without CAP_NET_ADMIN the
 * error says so. Needs root and /dev/net/tun (CI runs as root); skipped with a message otherwise.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/binary.ts";
import { scenarioReport } from "../helpers/netns.ts";
import { runIn } from "../helpers/netns-pair.ts";
import { ADDRESS, BURST, CONFLICT, PEER, ROUTE6, TARGET, TARGET_PORT, type Report } from "./tun-device-fixture.ts";

const ns = `cp-tun-${process.pid}`;

function setUp(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  if (!existsSync("/dev/net/tun")) return "no /dev/net/tun";
  for (const step of [
    ["ip", "netns", "add", ns],
    ["ip", "-n", ns, "link", "set", "lo", "up"],
  ]) {
    const r = Bun.spawnSync(step);
    if (r.exitCode !== 0) return `${step.join(" ")}: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`;
  }
  return undefined;
}

const failure = setUp();
if (failure !== undefined) {
  if (process.env.CI) throw new Error(`a TUN device in a network namespace is required in CI: ${failure}`);
  console.warn(`SKIP: TUN device tests: ${failure}`);
}
afterAll(() => {
  Bun.spawnSync(["ip", "netns", "del", ns]);
});

describe.skipIf(failure !== undefined)("a TUN device in a network namespace", () => {
  let report: Report;

  test("the scenario runs to the end inside the namespace", async () => {
    const run = await scenarioReport<Report>(ns, "test/integration/tun-device-scenario.ts");
    report = run.report;
    expect(report.error, run.stderr).toBeUndefined();
  });

  test("the kernel names the device from cpx%d and it is up with the MTU asked for", () => {
    expect(report.name).toMatch(/^cpx\d+$/);
    expect(report.link.mtu).toBe(1400);
    expect(report.link.flags).toEqual(expect.arrayContaining(["POINTOPOINT", "UP", "LOWER_UP"]));
  });

  test("the device has 100.64.0.1/32 with peer 100.64.0.2, and routes 10.99.0.0/24, fd99::/64 and the peer", () => {
    expect(report.addresses).toEqual([{ local: ADDRESS, address: PEER, prefixlen: 32 }]);
    expect(report.routes.sort()).toEqual(["10.99.0.0/24", PEER]);
    expect(report.routes6).toContain(ROUTE6);
  });

  test("a datagram sent to 10.99.0.5 is read from the device as one bare IPv4 packet", () => {
    expect(report.received).toMatchObject({ protocol: 17, source: ADDRESS, destination: TARGET, destinationPort: TARGET_PORT, data: "hello through the tun" });
  });

  test("a UDP reply written into the device reaches the sending socket", () => {
    expect(report.written).toBe(true);
    expect(report.reply).toEqual({ data: "hello back", address: TARGET, port: TARGET_PORT });
  });

  test("a write that is not an IP packet is refused and counted as an error, not a drop", () => {
    expect(report.garbageWritten).toBe(false);
    expect(report.stats).toMatchObject({ packetsOut: 1, bytesOut: 20 + 8 + "hello back".length, writeErrors: 1, writeDrops: 0, readDrops: 0 });
  });

  test("a burst of 1000 datagrams of 1200 bytes is read without loss, and counted", () => {
    const perPacket = 20 + 8 + BURST.size;
    expect(report.burst.packets).toBe(BURST.rounds * BURST.perRound);
    expect(report.burst.bytes).toBe(BURST.rounds * BURST.perRound * perPacket);
    expect(report.stats.packetsIn).toBeGreaterThanOrEqual(1 + BURST.rounds * BURST.perRound);
    expect(report.stats.bytesIn).toBeGreaterThanOrEqual(49 + report.burst.bytes);
    console.log(`TUN read burst: ${report.burst.packets} packets of ${perPacket} B in ${report.burst.ms} ms (in rounds of ${BURST.perRound})`);
  });

  test("close() removes the device, its address and every route, and a second close() is harmless", () => {
    expect(report.after).toEqual({ links: ["lo"], routes: [], routes6: [], addresses: ["127.0.0.1", "::1"] });
    expect(report.secondClose).toBe("resolved");
  });

  test("close() waits for the reader for about one poll period (100 ms), not for its safety timeout (2 s)", () => {
    expect(report.closeMs).toBeLessThan(1000);
    console.log(`TUN close(): ${report.closeMs} ms`);
  });

  test("a CIDR that is routed already fails the open with a clear error, and the device and earlier routes are rolled back", () => {
    expect(report.conflict).toEqual({
      code: "E_PLATFORM",
      message: `Cannot route ${CONFLICT} through the TUN device: a route for it exists already`,
      links: ["lo"],
      routes: [`${CONFLICT} dev lo`],
    });
  });

  test("nothing is left in the namespace once the scenario has exited", async () => {
    const links = await runIn(undefined, ["ip", "-n", ns, "-o", "link", "show"]);
    expect(links.out.split("\n").map((line) => line.split(":")[1]?.trim())).toEqual(["lo"]);
  });

  test("without CAP_NET_ADMIN, opening says it needs root or CAP_NET_ADMIN, with a hint", async () => {
    const module = JSON.stringify(join(REPO_ROOT, "src/net/tun-device.ts"));
    const script = `const { openTun } = await import(${module});
      try { await openTun({ mtu: 1400, address: "100.64.0.1", peer: "100.64.0.2", routes: ["10.99.0.0/24"] }); console.log("{}"); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint })); }`;
    // Still uid 0 (so the checkout stays readable, wherever it is), but CAP_NET_ADMIN is out of
    // the bounding set, so the exec'd process cannot have it.
    const unprivileged = ["setpriv", "--bounding-set=-net_admin", "--inh-caps=-all", process.execPath, "-e", script];
    const run = await runIn(ns, unprivileged);
    expect(run.code, run.err).toBe(0);
    const error = JSON.parse(run.out) as { code: string; message: string; hint: string };
    expect(error.code).toBe("E_PLATFORM");
    expect(error.message).toMatch(/^Cannot create the TUN device cpx%d: needs root or CAP_NET_ADMIN \(the kernel answered E(PERM|ACCES)\)$/);
    expect(error.hint).toContain("CAP_NET_ADMIN");
  });
});
