/**
 * Private DNS through the tunnel (issue 13 point 4), every part real but AWS: dnsmasq (Debian
 * dnsmasq-base) serves internal.corp in the vpc namespace, the compiled agent in the instance
 * namespace forwards each client's DNS from its tunnel address to it (--dns-upstream, with an
 * --allow-cidr that does not list the tunnel addresses), and the compiled `tunnel up --dns
 * internal.corp --dns-mode local --sessions 2` in the client namespace answers on its tunnel
 * address (one forwarder per client, whichever striped session a query takes). dig
 * (Debian bind9-dnsutils) is the client: names in the zone resolve over UDP and TCP, other
 * names are REFUSED by the client and never reach dnsmasq (its query log says so), and after
 * `tunnel down` nothing answers there.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { credproxyBinary, runCredproxy, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { killRecordedTunnels, processGone, tunnelClientEnv } from "../helpers/tunnel-client-env.ts";
import { waitFor } from "../helpers/wait.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, linkNames, runInNamespace, spawnInNamespace, VPC_CIDR, VPC_HOST } from "../helpers/tunnel-topology.ts";

const HELPERS = join(import.meta.dir, "../helpers");
const INSTANCE_ID = "i-0feedfacecafe0d05";
const DB_ADDRESS = "10.99.0.77";
const WILDCARD_ADDRESS = "10.99.0.78";
const sbin = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
const dnsmasqBinary = Bun.which("dnsmasq", { PATH: sbin });
const digBinary = Bun.which("dig", { PATH: sbin });
const missing = [dnsmasqBinary ? "" : "dnsmasq (Debian dnsmasq-base)", digBinary ? "" : "dig (Debian bind9-dnsutils)"].filter(Boolean);

const topology = createTunnelTopology("dns");
let runtimeDir = "";
let env: Record<string, string> = {};
let agent: CredproxyProcess;
let dnsmasq: CredproxyProcess;
/** The client-side resolver, ADDRESS:53, from the up line. */
let resolver = "";
let resolvConfBefore = "";
let agentPort = "";

afterAll(async () => {
  killRecordedTunnels(runtimeDir);
  await cleanupAll();
  topology.remove();
});

const credproxyIn = (args: readonly string[]) => runInNamespace(topology.client, [credproxyBinary(), ...args], { env, exactEnv: true, timeoutMs: 60_000 });

/** dig in the client namespace against the tunnel's resolver; `+short` answers or the status. */
async function dig(name: string, extra: readonly string[] = []): Promise<{ code: number; out: string }> {
  const r = await runInNamespace(topology.client, [digBinary!, `@${resolver}`, "-p", "53", name, "A", "+time=5", "+tries=2", ...extra]);
  return { code: r.code, out: r.out };
}

const status = (out: string): string | undefined => /status: (\w+)/.exec(out)?.[1];
const answers = (out: string): string[] => [...out.matchAll(/^\S+\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!);
const dnsmasqLog = (): string => dnsmasq.stderrLines.join("\n");

describe.skipIf(!topology.ok || missing.length > 0)("tunnel up --dns: private zones through the tunnel", () => {
  beforeAll(async () => {
    const state = await tempDir("credproxy-dns-dnsmasq-");
    dnsmasq = spawnInNamespace(topology.vpc, [
      dnsmasqBinary!,
      "-k",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      "--bind-interfaces",
      `--listen-address=${VPC_HOST}`,
      "--port=53",
      `--address=/db.internal.corp/${DB_ADDRESS}`,
      `--address=/internal.corp/${WILDCARD_ADDRESS}`,
      `--pid-file=${join(state, "dnsmasq.pid")}`,
      `--dhcp-leasefile=${join(state, "dnsmasq.leases")}`,
      "--user=root",
      "--log-queries",
      "--log-facility=-",
    ]);
    await dnsmasq.waitForLine(/started, version/, 10_000, "any");
    const agentProc = spawnInNamespace(topology.instance, [credproxyBinary(), "agent", "--listen", "127.0.0.1:0", "--allow-cidr", VPC_CIDR, "--dns-upstream", VPC_HOST]);
    const [, port] = await agentProc.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), .*, DNS to 10\.99\.0\.2:53$/, 15_000, "stdout");
    agent = agentProc;
    agentPort = port!;
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    const fake = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), "--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${port}`, "--instance", INSTANCE_ID]);
    const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
    runtimeDir = await tempDir("credproxy-dns-rt-");
    env = tunnelClientEnv({ ssm: apiUrl!, ec2: ec2! }, runtimeDir);
    resolvConfBefore = (await runInNamespace(topology.client, ["cat", "/etc/resolv.conf"])).out;
    const up = await credproxyIn(["tunnel", "up", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", port!, "--name", "dns", "--sessions", "2", "--dns", "Internal.Corp", "--dns-mode", "local"]);
    if (up.code !== 0) throw new Error(`tunnel up failed (exit ${up.code}): ${up.err}\nagent: ${agent.tail(20)}`);
    const match = /, dns internal\.corp answered at (100\.64\.0\.\d+):53 \(no systemd-resolved: point your resolver there, e\.g\. dnsmasq server=\/internal\.corp\/100\.64\.0\.\d+; resolv\.conf is not changed\), instance /.exec(up.out);
    if (match === null) throw new Error(`unexpected up line: ${up.out}`);
    resolver = match[1]!;
  }, 60_000);

  test("a name in the zone resolves through the tunnel to dnsmasq's answer, over UDP and over TCP", async () => {
    const udp = await dig("db.internal.corp");
    expect({ code: udp.code, status: status(udp.out), answers: answers(udp.out) }).toEqual({ code: 0, status: "NOERROR", answers: [DB_ADDRESS] });
    const tcp = await dig("API.internal.corp", ["+tcp"]);
    expect({ code: tcp.code, status: status(tcp.out), answers: answers(tcp.out) }).toEqual({ code: 0, status: "NOERROR", answers: [WILDCARD_ADDRESS] });
    console.log(`dig through the tunnel: UDP ${/Query time: (\d+ msec)/.exec(udp.out)?.[1]}, TCP ${/Query time: (\d+ msec)/.exec(tcp.out)?.[1]}`);
    expect(dnsmasqLog()).toMatch(/query\[A\] db\.internal\.corp from 10\.99\.0\.1/);
    expect(dnsmasqLog()).toMatch(/query\[A\] api\.internal\.corp from 10\.99\.0\.1/i);
  }, 30_000);

  test("other names are REFUSED at the client and never reach the VPC resolver", async () => {
    for (const name of ["example.invalid", "notinternal.corp", "internal.corp.example.invalid"]) {
      const r = await dig(name);
      expect({ name, status: status(r.out), answers: answers(r.out) }).toEqual({ name, status: "REFUSED", answers: [] });
    }
    const tcp = await dig("example.invalid", ["+tcp"]);
    expect(status(tcp.out)).toBe("REFUSED");
    expect(dnsmasqLog()).not.toContain("invalid");
    expect(dnsmasqLog()).not.toContain("notinternal");
  }, 30_000);

  test("the client's resolv.conf and routes are untouched: no default route, nothing but the VPC range on the TUN", async () => {
    expect((await runInNamespace(topology.client, ["cat", "/etc/resolv.conf"])).out).toBe(resolvConfBefore);
    const routes = (await runInNamespace(topology.client, ["ip", "route", "show"])).out;
    expect(routes).not.toContain("default");
    expect(routes).toMatch(/^10\.99\.0\.0\/24 dev cpx\d+/m);
  }, 10_000);

  test("tunnel status shows what --dns set up, in text and JSON", async () => {
    const text = await credproxyIn(["tunnel", "status", "dns"]);
    expect(text.out).toContain(`\n  dns internal.corp answered at ${resolver}:53 (no systemd-resolved`);
    const [report] = JSON.parse((await credproxyIn(["tunnel", "status", "dns", "--json"])).out) as { dns: unknown }[];
    expect(report!.dns).toEqual({ zones: ["internal.corp"], how: "local", interface: expect.stringMatching(/^cpx\d+$/), server: `${resolver}:53` });
  }, 30_000);

  test("tunnel down: the resolver on the tunnel address is gone with the TUN", async () => {
    const down = await credproxyIn(["tunnel", "down", "dns"]);
    expect({ code: down.code, out: down.out }).toEqual({ code: 0, out: "tunnel dns: down" });
    expect(linkNames(topology.client).filter((n) => n.startsWith("cpx"))).toEqual([]);
    const after = await runInNamespace(topology.client, [digBinary!, `@${resolver}`, "db.internal.corp", "+time=1", "+tries=1"]);
    expect(after.code).not.toBe(0);
    expect(answers(after.out)).toEqual([]);
  }, 30_000);
});

/** A tunnel's state record (pid, and what --dns set up). */
function recordOf(name: string): { pid: number; dns?: { how: string; zones: string[] } } {
  return JSON.parse(readFileSync(join(runtimeDir, "tunnels", `${name}.json`), "utf8")) as { pid: number; dns?: { how: string; zones: string[] } };
}

describe.skipIf(!topology.ok || missing.length > 0)("tunnel up --dns after a crash", () => {
  test("the record says what --dns set up; after kill -9, down --force leaves nothing and a new tunnel answers again", async () => {
    const args = ["tunnel", "up", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", agentPort, "--dns", "internal.corp", "--dns-mode", "local"];
    expect((await credproxyIn([...args, "--name", "crash"])).code).toBe(0);
    const record = recordOf("crash");
    expect(record.dns).toMatchObject({ how: "local", zones: ["internal.corp"] });
    process.kill(record.pid, "SIGKILL");
    await waitFor(() => processGone(record.pid), { timeoutMs: 5000, what: "the tunnel process to die" });
    const forced = await credproxyIn(["tunnel", "down", "--force", "crash"]);
    expect({ code: forced.code, out: forced.out }).toEqual({ code: 0, out: expect.stringMatching(/^tunnel crash: state removed; cpx\d+ and its routes were gone already; session \S+ terminated$/) });
    expect(linkNames(topology.client).filter((n) => n.startsWith("cpx"))).toEqual([]);
    // Port 53 on the new tunnel address is free for the next tunnel's resolver.
    const again = await credproxyIn([...args, "--name", "again"]);
    expect(again.code).toBe(0);
    resolver = /answered at (\S+):53 /.exec(again.out)![1]!;
    expect(answers((await dig("db.internal.corp")).out)).toEqual([DB_ADDRESS]);
    expect((await credproxyIn(["tunnel", "down", "again"])).code).toBe(0);
  }, 60_000);
});

test("validate --tunnel lists the dns zones and mode; a bad zone is refused with file:line:col", async () => {
  const dir = await tempDir("credproxy-dns-validate-");
  const good = join(dir, "good.yaml");
  const bad = join(dir, "bad.yaml");
  await Bun.write(good, "cidrs: [10.20.0.0/16]\ninstance_id: i-0123456789abcdef0\ndns: [internal.corp, compute.internal]\ndns_mode: local\n");
  await Bun.write(bad, "cidrs: [10.20.0.0/16]\ninstance_id: i-0123456789abcdef0\ndns: [internal.corp, '.']\n");
  const ok = await runCredproxy(["validate", "--tunnel", good]);
  expect({ code: ok.code, stdout: ok.stdout }).toEqual({ code: 0, stdout: `${good}: valid (tunnel config)\n  cidrs: 10.20.0.0/16\n  instance: i-0123456789abcdef0\n  dns: internal.corp, compute.internal\n  dns mode: local\n` });
  const refused = await runCredproxy(["validate", "--tunnel", bad]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`${bad}:3:22: dns[1]: the root zone would send every name through the tunnel`);
});
