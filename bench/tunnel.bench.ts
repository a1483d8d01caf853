/**
 * `credproxy tunnel` throughput and latency under load (issue 12's benchmark). Run by hand, as root,
 * with iperf3 installed: `node_modules/.bin/bun bench/tunnel.bench.ts` after `bun build.ts`.
 * The topology is tunnel-traffic.test.ts's: client, instance and vpc namespaces; the compiled agent
 * and the fake SSM (its Port plugin paces like the real agent: 1024-byte reads, 1 ms sleep toward
 * the client) in the instance namespace; `tunnel up --foreground` in the client namespace.
 */
import { join } from "node:path";
import { credproxyBinary, tempDir } from "../test/helpers/binary.ts";
import { cleanupAll } from "../test/helpers/cleanup.ts";
import { killRecordedTunnels, tunnelClientEnv } from "../test/helpers/tunnel-client-env.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, runInNamespace, spawnInNamespace, VPC_CIDR, VPC_HOST } from "../test/helpers/tunnel-topology.ts";

const HELPERS = join(import.meta.dir, "../test/helpers");
const INSTANCE_ID = "i-0feedfacecafe00b1";
const ROUNDS = 3;
const SECONDS = 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The pacing loop's real period: 1 ms sleeps as Bun times them on this machine. */
async function pacingPeriodMs(): Promise<number> {
  const n = 500;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await Bun.sleep(1);
  return (performance.now() - t0) / n;
}

async function iperfDownload(ns: string): Promise<number> {
  const r = await runInNamespace(ns, ["iperf3", "-c", VPC_HOST, "-R", "-t", String(SECONDS), "-J"], { timeoutMs: (SECONDS + 30) * 1000 });
  if (r.code !== 0) throw new Error(`iperf3 failed (exit ${r.code}): ${r.out.slice(-500)} ${r.err}`);
  return (JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 8;
}

/** ping -i 0.2 for `seconds`; the average RTT in ms. */
async function pingAvg(ns: string, seconds: number): Promise<number> {
  const r = await runInNamespace(ns, ["ping", "-i", "0.2", "-w", String(seconds), VPC_HOST], { timeoutMs: (seconds + 10) * 1000 });
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.out);
  if (!m) throw new Error(`ping gave no RTT: ${r.out.slice(-300)}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  const topology = createTunnelTopology("tbn");
  if (!topology.ok) throw new Error("could not create the namespaces (run as root)");
  let runtimeDir = "";
  try {
    const vpc = spawnInNamespace(topology.vpc, [process.execPath, join(HELPERS, "tunnel-hosts/vpc-services.ts"), "--answer", VPC_HOST]);
    await vpc.waitForLine(/^vpc services ready$/, 10_000, "stdout");
    spawnInNamespace(topology.vpc, ["iperf3", "-s", "-B", VPC_HOST]);
    const agent = spawnInNamespace(topology.instance, [credproxyBinary(), "agent", "--listen", "127.0.0.1:0"]);
    const [, agentPort] = await agent.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), /, 15_000, "stdout");
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    const fake = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), "--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${agentPort}`, "--instance", INSTANCE_ID]);
    const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
    runtimeDir = await tempDir("credproxy-bench-rt-");
    const env = tunnelClientEnv({ ssm: apiUrl!, ec2: ec2! }, runtimeDir);
    const tunnel = spawnInNamespace(topology.client, [credproxyBinary(), "tunnel", "up", "--foreground", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", agentPort!, "--name", "bench"], { env });
    await tunnel.waitForLine(/^tunnel up: /, 30_000, "stdout");

    const period = await pacingPeriodMs();
    const cap = 1024 / (period / 1000);
    const idle = await pingAvg(topology.client, 5);
    const rates: number[] = [];
    const loaded: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const [rate, rtt] = await Promise.all([iperfDownload(topology.client), pingAvg(topology.client, SECONDS - 2)]);
      rates.push(rate);
      loaded.push(rtt);
    }
    const mb = (x: number) => (x / 1e6).toFixed(3);
    console.log(`machine: nproc ${navigator.hardwareConcurrency}, load ${(await Bun.file("/proc/loadavg").text()).trim()}`);
    console.log(`pacing cap: 1 ms sleep measured as ${period.toFixed(3)} ms -> ${mb(cap)} MB/s (nominal 1.024 MB/s)`);
    console.log(`iperf3 -R ${SECONDS}s rounds MB/s: ${rates.map(mb).join(", ")}; median ${mb(median(rates))}; ratio to measured cap ${(median(rates) / cap).toFixed(2)}, to nominal ${(median(rates) / 1.024e6).toFixed(2)}`);
    console.log(`ping avg ms: idle ${idle.toFixed(1)}; under load ${loaded.map((x) => x.toFixed(1)).join(", ")}; median ${median(loaded).toFixed(1)} (+${(median(loaded) - idle).toFixed(1)} ms)`);
    tunnel.kill("SIGTERM");
  } finally {
    killRecordedTunnels(runtimeDir);
    await cleanupAll();
    topology.remove();
  }
}

// --sessions: the striped-sessions case (tunnel-stripes.ts) instead of this single-session one.
if (process.argv.includes("--sessions")) await (await import("./tunnel-stripes.ts")).benchStripes();
else await main();
