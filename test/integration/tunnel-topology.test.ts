/**
 * The three namespaces the tunnel tests run in (test/helpers/tunnel-topology.ts): the client
 * reaches the instance, the instance reaches the vpc host, and the client cannot reach the vpc
 * range at all — so in the tunnel tests only the tunnel can carry that traffic. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { CredproxyProcess } from "../helpers/binary.ts";
import { join } from "node:path";
import { cleanupAll } from "../helpers/cleanup.ts";
import { bulkSha256 } from "../helpers/tunnel-hosts/bulk-bytes.ts";
import { BULK_PORT, DNS_PORT, ECHO_PORT } from "../helpers/tunnel-hosts/vpc-ports.ts";
import {
  CLIENT_ADDRESS,
  createTunnelTopology,
  existingNamespaces,
  INSTANCE_ADDRESS,
  INSTANCE_VPC_ADDRESS,
  linkNames,
  runInNamespace,
  spawnInNamespace,
  VPC_HOST,
  VPC_HOST_2,
} from "../helpers/tunnel-topology.ts";

const HOSTS = join(import.meta.dir, "../helpers/tunnel-hosts");
const topology = createTunnelTopology("top");
if (!topology.ok) {
  if (process.env.CI) throw new Error(`the tunnel test namespaces are required in CI: ${topology.why}`);
  console.warn(`SKIP: tunnel topology: ${topology.why}`);
}
afterAll(async () => {
  await cleanupAll();
  topology.remove();
});

async function probe(ns: string, args: string[]): Promise<Record<string, unknown>> {
  const run = await runInNamespace(ns, [process.execPath, join(HOSTS, "tunnel-probe.ts"), ...args]);
  if (run.code !== 0) throw new Error(`probe ${args.join(" ")} in ${ns} failed: ${run.err}`);
  return JSON.parse(run.out.split("\n").at(-1)!) as Record<string, unknown>;
}

/** What the kernel says about a route from `ns` to `address` ("unreachable" when it has none). */
async function routeTo(ns: string, address: string): Promise<string> {
  const run = await runInNamespace(ns, ["ip", "route", "get", address]);
  return run.code === 0 ? run.out : run.err.includes("unreachable") ? "unreachable" : run.err;
}

describe.skipIf(!topology.ok)("the tunnel test topology", () => {
  let services: CredproxyProcess;
  beforeAll(async () => {
    services = spawnInNamespace(topology.vpc, [process.execPath, join(HOSTS, "vpc-services.ts")]);
    await services.waitForLine(/^vpc services ready$/, 10_000, "stdout");
  });

  test("the vpc services answer the instance: a bulk download and upload with the expected checksums, an echo, a DNS-shaped answer", async () => {
    const got = await probe(topology.instance, ["get", VPC_HOST, String(BULK_PORT), String(1024 * 1024), "topology"]);
    expect(got).toMatchObject({ bytes: 1024 * 1024, sha256: bulkSha256("topology", 1024 * 1024) });
    const put = await probe(topology.instance, ["put", VPC_HOST_2, String(BULK_PORT), "300000", "up"]);
    expect(put.reply).toBe(`sha256 ${bulkSha256("up", 300_000)} 300000`);
    const echoed = await probe(topology.instance, ["echo", VPC_HOST, String(ECHO_PORT), "0", "3"]);
    expect((echoed.rttMs as number[]).length).toBe(3);
    const dns = await probe(topology.instance, ["dns", VPC_HOST, String(DNS_PORT), "vpc-host.test.invalid", "2"]);
    expect(dns.answers).toEqual([expect.objectContaining({ address: VPC_HOST }), expect.objectContaining({ address: VPC_HOST })]);
  });

  test("the client pings the instance's address but has no route to the vpc range, so the same connection fails there", async () => {
    expect((await runInNamespace(topology.client, ["ping", "-c", "1", "-W", "2", INSTANCE_ADDRESS])).code).toBe(0);
    for (const address of [VPC_HOST, VPC_HOST_2, INSTANCE_VPC_ADDRESS]) expect(await routeTo(topology.client, address)).toBe("unreachable");
    expect(await probe(topology.client, ["connect", VPC_HOST, String(BULK_PORT), "2000"])).toMatchObject({ ok: false });
    expect(await probe(topology.instance, ["connect", VPC_HOST, String(BULK_PORT), "2000"])).toMatchObject({ ok: true });
  });

  test("the vpc namespace has no route back to the client", async () => {
    expect(await routeTo(topology.vpc, CLIENT_ADDRESS)).toBe("unreachable");
    expect(await routeTo(topology.vpc, "100.64.0.2")).toBe("unreachable");
  });

  test("remove() deletes all three namespaces and with them their interfaces", () => {
    const other = createTunnelTopology("rm");
    expect(other.ok).toBe(true);
    expect(linkNames(other.instance).length).toBe(3);
    other.remove();
    const left = existingNamespaces();
    for (const ns of [other.client, other.instance, other.vpc]) expect(left).not.toContain(ns);
  });
});
