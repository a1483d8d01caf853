/**
 * `credproxy tunnel` throughput and latency under load (issue 12's benchmark), side by side with
 * sshuttle. Run by hand, as root, with iperf3, sshuttle and openssh-server/-client installed,
 * after `bun build.ts`:
 *
 *   node_modules/.bin/bun bench/tunnel.bench.ts [--rounds 3] [--seconds 10] [--cc cubic,bbr] [--no-sshuttle] [--no-unpaced]
 *
 * The topology is tunnel-traffic.test.ts's: client, instance and vpc namespaces; the compiled
 * agent and the fake SSM (its Port plugin paces like the real agent: 1024-byte reads, 1 ms sleep
 * toward the client) in the instance namespace; `tunnel up --foreground` in the client namespace.
 * Each case gets fresh processes:
 *
 * - tunnel, paced, with the drop-tail queues and the agent's in-flight bound (the product);
 * - tunnel, paced, CREDPROXY_TUNNEL_QUEUE=unbounded (a benchmark-only switch, src/tunnel/
 *   tunnel-queue.ts): no bound in front of the session at either end (nor the agent's in-flight
 *   bound), bytes wait until the
 *   socket takes them, as with a tunnel that simply writes into the session;
 * - sshuttle over ssh, paced by bench/paced-relay.ts the same way (sshuttle over SSM is ssh
 *   through AWS-StartSSHSession), then both tools unpaced (the fake with --read-pause-ms 0,
 *   sshuttle straight to sshd).
 *
 * In each round an iperf3 -R bulk download runs with an ICMP ping (-i 0.2) and a TCP echo probe
 * (32 bytes every 200 ms on one connection) beside it. sshuttle carries no ICMP, so for it only
 * the TCP probe counts. Latency figures are medians over every sample of every round. Each case
 * runs once per congestion control of the bulk sender: cubic (the Linux default, which fills
 * whatever queue it is given) and bbr (which paces itself and keeps queues short on its own).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { credproxyBinary, tempDir, type CredproxyProcess } from "../test/helpers/binary.ts";
import { cleanupAll } from "../test/helpers/cleanup.ts";
import { killRecordedTunnels, tunnelClientEnv } from "../test/helpers/tunnel-client-env.ts";
import { ECHO_PORT } from "../test/helpers/tunnel-hosts/vpc-ports.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, runInNamespace, spawnInNamespace, VPC_CIDR, VPC_HOST, type TunnelTopology } from "../test/helpers/tunnel-topology.ts";
import { startSshSide, startSshuttle, type SshSide } from "./sshuttle-side.ts";

const HELPERS = join(import.meta.dir, "../test/helpers");
const INSTANCE_ID = "i-0feedfacecafe00b1";
const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "10" },
    cc: { type: "string", default: "cubic,bbr" },
    "no-sshuttle": { type: "boolean" },
    "no-unpaced": { type: "boolean" },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
/** The bulk sender's congestion control (iperf3 -C; in -R mode the server in the vpc namespace applies it). */
const CCS = args.cc!.split(",");

const median = (xs: number[]) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
const quantile = (xs: number[], q: number) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!);

interface Case {
  readonly label: string;
  /** Starts the path; resolves with what to stop afterwards. */
  start(): Promise<CredproxyProcess[]>;
  readonly icmp: boolean;
}

interface Result {
  readonly label: string;
  readonly rates: number[];
  readonly idle: { icmp: number[]; tcp: number[] };
  readonly loaded: { icmp: number[]; tcp: number[] };
}

/** The pacing loop's real period: 1 ms sleeps as Bun times them on this machine. */
async function pacingPeriodMs(): Promise<number> {
  const n = 500;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await Bun.sleep(1);
  return (performance.now() - t0) / n;
}

async function iperfDownload(ns: string, cc: string): Promise<number> {
  const r = await runInNamespace(ns, ["iperf3", "-c", VPC_HOST, "-R", "-C", cc, "-t", String(SECONDS), "-J"], { timeoutMs: (SECONDS + 30) * 1000 });
  if (r.code !== 0) throw new Error(`iperf3 failed (exit ${r.code}): ${r.out.slice(-500)} ${r.err}`);
  return (JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 8;
}

/** ping -i 0.2 for `seconds`: every reply's RTT in ms. */
async function pingTimes(ns: string, seconds: number): Promise<number[]> {
  const r = await runInNamespace(ns, ["ping", "-n", "-i", "0.2", "-w", String(seconds), VPC_HOST], { timeoutMs: (seconds + 10) * 1000 });
  const times = [...r.out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length === 0) throw new Error(`ping gave no RTT: ${r.out.slice(-300)}`);
  return times;
}

/** The TCP echo probe (tunnel-probe.ts) for `samples` round trips 200 ms apart, or until `stopFile` exists. */
async function echoTimes(ns: string, until: string): Promise<number[]> {
  const r = await runInNamespace(ns, [process.execPath, join(HELPERS, "tunnel-hosts/tunnel-probe.ts"), "echo", VPC_HOST, String(ECHO_PORT), "200", until], {
    timeoutMs: (SECONDS + 60) * 1000,
  });
  const last = r.out.split("\n").at(-1) ?? "";
  const result = (last.startsWith("{") ? JSON.parse(last) : {}) as { rttMs?: number[]; error?: string };
  if (!result.rttMs || result.rttMs.length === 0) throw new Error(`echo probe gave no RTT (exit ${r.code}): ${r.out.slice(-300)} ${r.err}`);
  return result.rttMs;
}

/** One case with fresh processes: idle latency, then ROUNDS bulk downloads per congestion control. */
async function measure(topology: TunnelTopology, c: Case, dir: string): Promise<Result[]> {
  console.error(`${new Date().toISOString()} ${c.label}`);
  const processes = await c.start();
  try {
    const idleSeconds = Math.max(3, Math.round(SECONDS / 2));
    const [idleIcmp, idleTcp] = await Promise.all([c.icmp ? pingTimes(topology.client, idleSeconds) : [], echoTimes(topology.client, String(idleSeconds * 5))]);
    const results: Result[] = [];
    for (const cc of CCS) {
      const result: Result = { label: `${c.label}, sender ${cc}`, rates: [], idle: { icmp: idleIcmp, tcp: idleTcp }, loaded: { icmp: [], tcp: [] } };
      for (let i = 0; i < ROUNDS; i++) {
        const stop = join(dir, `${c.label.replace(/\W+/g, "-")}-${cc}-${i}.stop`);
        const download = iperfDownload(topology.client, cc).finally(() => Bun.write(stop, ""));
        const [rate, icmp, tcp] = await Promise.all([download, c.icmp ? pingTimes(topology.client, SECONDS - 1) : [], echoTimes(topology.client, stop)]);
        result.rates.push(rate);
        result.loaded.icmp.push(...icmp);
        result.loaded.tcp.push(...tcp);
      }
      results.push(result);
    }
    return results;
  } finally {
    for (const p of processes.reverse()) await p.kill("SIGTERM", 10_000).catch(() => p.kill("SIGKILL"));
  }
}

function tunnelCase(topology: TunnelTopology, endpoints: { ec2: string }, runtimeDir: string, label: string, extra: { queue?: "unbounded"; pauseMs: number }): Case {
  const queueEnv = extra.queue === undefined ? {} : { CREDPROXY_TUNNEL_QUEUE: extra.queue };
  return {
    label,
    icmp: true,
    async start() {
      const agent = spawnInNamespace(topology.instance, [credproxyBinary(), "agent", "--listen", "127.0.0.1:0"], { env: queueEnv });
      const [, agentPort] = await agent.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), /, 15_000, "stdout");
      const fakeArgs = ["--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${agentPort}`, "--instance", INSTANCE_ID, "--read-pause-ms", String(extra.pauseMs)];
      const fake = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), ...fakeArgs]);
      const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
      const env = { ...tunnelClientEnv({ ssm: apiUrl!, ec2: endpoints.ec2 }, runtimeDir), ...queueEnv };
      const upArgs = ["tunnel", "up", "--foreground", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", agentPort!, "--name", "bench"];
      const tunnel = spawnInNamespace(topology.client, [credproxyBinary(), ...upArgs], { env });
      await tunnel.waitForLine(/^tunnel up: /, 30_000, "stdout");
      return [agent, fake, tunnel];
    },
  };
}

function sshuttleCase(topology: TunnelTopology, side: SshSide, label: string, paced: boolean): Case {
  return { label, icmp: false, start: async () => [await startSshuttle(topology, side, paced)] };
}

function report(results: Result[], cap: number, period: number): void {
  const mb = (x: number) => (x / 1e6).toFixed(3);
  const ms = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(1));
  console.log(`machine: nproc ${navigator.hardwareConcurrency}, load ${Bun.spawnSync(["cat", "/proc/loadavg"]).stdout.toString().trim()}; ${ROUNDS} rounds of ${SECONDS} s`);
  console.log(`pacing cap: 1 ms sleep measured as ${period.toFixed(3)} ms -> ${mb(cap)} MB/s (nominal 1.024 MB/s)`);
  for (const r of results) {
    const rate = median(r.rates);
    console.log(`${r.label}: iperf3 -R MB/s ${r.rates.map(mb).join(", ")}; median ${mb(rate)} (${(rate / cap).toFixed(2)} of the measured cap)`);
    for (const kind of ["icmp", "tcp"] as const) {
      const idle = median(r.idle[kind]);
      const loaded = r.loaded[kind];
      if (loaded.length === 0) continue;
      const rise = median(loaded) - idle;
      console.log(
        `  ${kind === "icmp" ? "ping" : "tcp echo"} ms: idle median ${ms(idle)}; under load median ${ms(median(loaded))} (+${ms(rise)}), p90 ${ms(quantile(loaded, 0.9))}, max ${ms(Math.max(...loaded))}, ${loaded.length} samples`,
      );
    }
  }
}

async function main(): Promise<void> {
  const topology = createTunnelTopology("t12");
  if (!topology.ok) throw new Error(`could not create the namespaces: ${topology.why}`);
  let runtimeDir = "";
  const withSshuttle = !args["no-sshuttle"] && Bun.which("sshuttle") !== null && Bun.which("sshd", { PATH: "/usr/sbin" }) !== null;
  if (!args["no-sshuttle"] && !withSshuttle) console.error("sshuttle or sshd not installed (apt-get install sshuttle openssh-server): skipping sshuttle");
  try {
    const vpc = spawnInNamespace(topology.vpc, [process.execPath, join(HELPERS, "tunnel-hosts/vpc-services.ts"), "--answer", VPC_HOST]);
    await vpc.waitForLine(/^vpc services ready$/, 10_000, "stdout");
    spawnInNamespace(topology.vpc, ["iperf3", "-s", "-B", VPC_HOST]);
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    runtimeDir = await tempDir("credproxy-bench-rt-");
    const endpoints = { ec2: ec2! };
    const cases = [
      tunnelCase(topology, endpoints, runtimeDir, "tunnel paced, drop-tail queues", { pauseMs: 1 }),
      tunnelCase(topology, endpoints, runtimeDir, "tunnel paced, unbounded queues", { queue: "unbounded", pauseMs: 1 }),
      ...(args["no-unpaced"] ? [] : [tunnelCase(topology, endpoints, runtimeDir, "tunnel unpaced, drop-tail queues", { pauseMs: 0 })]),
    ];
    const period = await pacingPeriodMs();
    const results: Result[] = [];
    for (const c of cases) results.push(...(await measure(topology, c, runtimeDir)));
    if (withSshuttle) {
      // After the tunnel cases: sshuttle needs a route to the VPC range (its REDIRECT rule takes the TCP).
      const side = await startSshSide(topology);
      results.push(...(await measure(topology, sshuttleCase(topology, side, "sshuttle paced (ssh via 1024 B / 1 ms relay)", true), runtimeDir)));
      if (!args["no-unpaced"]) results.push(...(await measure(topology, sshuttleCase(topology, side, "sshuttle unpaced (ssh direct)", false), runtimeDir)));
    }
    report(results, 1024 / (period / 1000), period);
  } finally {
    killRecordedTunnels(runtimeDir);
    await cleanupAll();
    topology.remove();
  }
}

// --sessions: the striped-sessions case (tunnel-stripes.ts) instead of this single-session one.
if (process.argv.includes("--sessions")) await (await import("./tunnel-stripes.ts")).benchStripes();
else await main();
