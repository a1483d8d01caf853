/**
 * IPv6 through the whole tunnel: the compiled client and agent with the fake SSM service, as in
 * tunnel-traffic.test.ts, with an IPv6 VPC range this test assigns (fd7a:115c:a1e0::/64 between
 * the instance and vpc namespaces, and an IPv6 default route in the instance namespace, so the
 * agent finds "a global address and a default route"). The vpc namespace has no route back to
 * the tunnel's ULA prefix, so every IPv6 answer proves the TUN pair and the agent's NAT66. Also:
 * after `tunnel down` and the agent's exit, no IPv6 route, address, ip6tables rule or forwarding
 * setting of ours is left; and an agent with --no-ipv6 makes the client say IPv6 is not
 * available and leave the IPv6 range off its TUN, so IPv6 fails at once rather than vanishing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { credproxyBinary, type CredproxyProcess } from "../helpers/binary.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { bulkSha256 } from "../helpers/tunnel-hosts/bulk-bytes.ts";
import { BULK_PORT } from "../helpers/tunnel-hosts/vpc-ports.ts";
import { killRecordedTunnels } from "../helpers/tunnel-client-env.ts";
import { startTunnelServices, type TunnelServices } from "../helpers/tunnel-services.ts";
import { createTunnelTopology, ipJson, linkNames, runInNamespace, spawnInNamespace, VPC_CIDR } from "../helpers/tunnel-topology.ts";
import { waitFor } from "../helpers/wait.ts";

const HELPERS = join(import.meta.dir, "../helpers");
const INSTANCE_ID = "i-0feedfacecafe0006";
const MB = 1_000_000;
const VPC6_CIDR = "fd7a:115c:a1e0::/64";
const INSTANCE6 = "fd7a:115c:a1e0::1";
const VPC6_HOST = "fd7a:115c:a1e0::10";
const POOL6 = "fd63:7078:e2e6:1::/64";

const topology = createTunnelTopology("t6v");
let services: TunnelServices;
let agent: CredproxyProcess;

afterAll(async () => {
  if (services !== undefined) killRecordedTunnels(services.runtimeDir);
  await cleanupAll();
  topology.remove();
});

const credproxyIn = (args: readonly string[]) => runInNamespace(topology.client, [credproxyBinary(), ...args], { env: services.env, exactEnv: true, timeoutMs: 60_000 });

async function probe<T>(args: readonly (string | number)[]): Promise<T> {
  const run = await runInNamespace(topology.client, [process.execPath, join(HELPERS, "tunnel-hosts/tunnel-probe.ts"), ...args.map(String)], { timeoutMs: 120_000 });
  if (run.code !== 0) throw new Error(`probe ${args.join(" ")} failed (exit ${run.code}): ${run.err}`);
  return JSON.parse(run.out.split("\n").at(-1)!) as T;
}

async function tunnelUp(name: string): Promise<string> {
  const up = await credproxyIn(["tunnel", "up", "--cidr", VPC_CIDR, "--cidr", VPC6_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", String(services.agentPort), "--name", name]);
  if (up.code !== 0) throw new Error(`tunnel up failed (exit ${up.code}): ${up.err}\nagent: ${agent.tail(20)}`);
  return up.out;
}

/** Runs `ip` in a namespace, failing the test on a non-zero exit. */
async function ip(ns: string, args: readonly string[]): Promise<void> {
  const r = await runInNamespace(ns, ["ip", ...args]);
  if (r.code !== 0) throw new Error(`ip -n ${ns} ${args.join(" ")}: ${r.err}`);
}

const clientV6Routes = () => ipJson<{ dst: string; dev: string }[]>(topology.client, ["-6", "route", "show"]).filter((r) => r.dev.startsWith("cpx") && !r.dst.startsWith("fe80"));
const clientV6Addresses = () =>
  ipJson<{ ifname: string; addr_info: { family: string; local: string }[] }[]>(topology.client, ["addr", "show"]).flatMap((l) => l.addr_info.filter((a) => a.family === "inet6" && a.local.startsWith("fd63")).map((a) => `${a.local} ${l.ifname}`));

async function ip6tablesRules(): Promise<string[]> {
  const lines: string[] = [];
  for (const table of ["nat", "filter"]) lines.push(...(await runInNamespace(topology.instance, ["ip6tables", "-w", "5", "-t", table, "-S"])).out.split("\n").filter((l) => l.includes("CREDPROXY")));
  return lines;
}

const forwarding6 = async () => (await runInNamespace(topology.instance, ["cat", "/proc/sys/net/ipv6/conf/all/forwarding"])).out;

/** Starts the agent on the port the fake dials (after the first one is stopped). */
async function restartAgent(extra: readonly string[]): Promise<CredproxyProcess> {
  await agent.kill("SIGTERM", 15_000);
  const next = spawnInNamespace(topology.instance, [credproxyBinary(), "agent", "--listen", `127.0.0.1:${services.agentPort}`, ...extra]);
  await next.waitForLine(/^agent: listening on /, 15_000, "stdout");
  return next;
}

describe.skipIf(!topology.ok)("IPv6 through credproxy tunnel and credproxy agent", () => {
  beforeAll(async () => {
    const vpcDevice = linkNames(topology.vpc).find((n) => n !== "lo")!;
    await ip(topology.instance, ["-6", "addr", "add", `${INSTANCE6}/64`, "dev", topology.instanceVpcDevice, "nodad"]);
    await ip(topology.vpc, ["-6", "addr", "add", `${VPC6_HOST}/64`, "dev", vpcDevice, "nodad"]);
    await ip(topology.instance, ["-6", "route", "add", "default", "via", VPC6_HOST, "dev", topology.instanceVpcDevice]);
    // Neighbour discovery needs the veths' link-local addresses, which are tentative until DAD ends.
    const tentative = (ns: string) => ipJson<unknown[]>(ns, ["-6", "addr", "show", "tentative"]).length;
    await waitFor(() => tentative(topology.instance) === 0 && tentative(topology.vpc) === 0, { timeoutMs: 10_000, what: "IPv6 duplicate address detection to end" });
    services = await startTunnelServices(topology, INSTANCE_ID, ["--pool6", POOL6]);
    agent = services.agent;
    const vpc6 = spawnInNamespace(topology.vpc, [process.execPath, join(HELPERS, "tunnel-hosts/vpc-services.ts"), "--host", VPC6_HOST]);
    await vpc6.waitForLine(/^vpc services ready$/, 10_000, "stdout");
  }, 60_000);

  test("the agent offers IPv6; tunnel up puts the pair on the TUN and routes the IPv6 range there", async () => {
    expect(agent.stdoutLines.join("\n")).toContain(`IPv6 pool ${POOL6}`);
    const line = await tunnelUp("six");
    expect(line).toMatch(/, ipv6 fd63:7078:e2e6:1::3 -> fd63:7078:e2e6:1::2$/);
    expect(clientV6Routes().map((r) => r.dst)).toEqual(expect.arrayContaining([VPC6_CIDR, "fd63:7078:e2e6:1::2"]));
    expect(clientV6Addresses()).toEqual([expect.stringMatching(/^fd63:7078:e2e6:1::3 cpx\d+$/)]);
    expect(await ip6tablesRules()).toEqual(expect.arrayContaining(["-A POSTROUTING -j CREDPROXY-NAT", `-A CREDPROXY-NAT -s ${POOL6} -j MASQUERADE`]));
    expect(await forwarding6()).toBe("1");
  }, 60_000);

  test("ICMPv6: ping reaches the vpc host's IPv6 address and the agent's tunnel address, and back", async () => {
    const ping = await runInNamespace(topology.client, ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", VPC6_HOST]);
    expect(ping.code).toBe(0);
    expect(ping.out).toContain("3 received");
    const agentPing = await runInNamespace(topology.client, ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "5", "fd63:7078:e2e6:1::2"]);
    expect(agentPing.out).toContain("2 received");
  }, 30_000);

  test("TCP over IPv6: 2 MB down and 1 MB up arrive whole (sha256 equal)", async () => {
    const get = await probe<{ bytes: number; sha256: string }>(["get", VPC6_HOST, BULK_PORT, 2 * MB, "six-down"]);
    expect({ bytes: get.bytes, sha256: get.sha256 }).toEqual({ bytes: 2 * MB, sha256: bulkSha256("six-down", 2 * MB) });
    const put = await probe<{ reply: string }>(["put", VPC6_HOST, BULK_PORT, MB, "six-up"]);
    expect(put.reply).toBe(`sha256 ${bulkSha256("six-up", MB)} ${MB}`);
    const report = JSON.parse((await credproxyIn(["tunnel", "status", "six", "--json"])).out) as { ipv6: string }[];
    expect(report[0]!.ipv6).toBe("fd63:7078:e2e6:1::3 -> fd63:7078:e2e6:1::2");
  }, 120_000);

  test("after tunnel down and the agent's exit, no IPv6 route, address, ip6tables rule or forwarding of ours is left", async () => {
    expect((await credproxyIn(["tunnel", "down", "six"])).code).toBe(0);
    await waitFor(() => linkNames(topology.client).every((n) => !n.startsWith("cpx")), { timeoutMs: 15_000, what: "the client's TUN to go" });
    expect(clientV6Routes()).toEqual([]);
    expect(clientV6Addresses()).toEqual([]);
    agent = await restartAgent(["--no-ipv6"]);
    expect(await ip6tablesRules()).toEqual([]);
    expect(await forwarding6()).toBe("0");
  }, 60_000);

  test("an agent without IPv6: the client says IPv6 is not available and keeps the range off its TUN, so IPv6 fails at once", async () => {
    expect(agent.stdoutLines.join("\n")).toContain("IPv6 not available: IPv6 is turned off on the agent (--no-ipv6)");
    const line = await tunnelUp("four");
    expect(line).toMatch(/, ipv6 not available: IPv6 is turned off on the agent \(--no-ipv6\)$/);
    expect(clientV6Routes()).toEqual([]);
    const ping = await runInNamespace(topology.client, ["ping", "-6", "-c", "1", "-W", "2", VPC6_HOST]);
    expect(ping.code).not.toBe(0);
    expect(ping.err + ping.out).toMatch(/unreachable/i);
    expect((await credproxyIn(["tunnel", "down", "four"])).code).toBe(0);
  }, 60_000);
});
