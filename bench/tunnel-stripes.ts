/**
 * The striped-sessions case of the tunnel benchmark (issue 13 point 2): `tunnel up --sessions N`
 * for N = 1, 2, 4 through the paced fake SSM, N parallel iperf3 downloads, against N times the
 * pacing cap. Each flow's client port is picked with the tunnel's own hash so that flow i goes
 * over session i (N flows with ephemeral ports would often share a session: 4 flows on 4
 * sessions leave one idle more often than not); one round with `iperf3 -P N` and ephemeral
 * ports shows that case too. Run by `bun bench/tunnel.bench.ts --sessions [--seconds S] [--rounds R]`.
 */
import { credproxyBinary } from "../test/helpers/binary.ts";
import { cleanupAll } from "../test/helpers/cleanup.ts";
import { stripeOf } from "../test/helpers/stripe-ports.ts";
import { killRecordedTunnels } from "../test/helpers/tunnel-client-env.ts";
import { startTunnelServices } from "../test/helpers/tunnel-services.ts";
import { waitFor } from "../test/helpers/wait.ts";
import { createTunnelTopology, runInNamespace, spawnInNamespace, VPC_CIDR, VPC_HOST } from "../test/helpers/tunnel-topology.ts";

const INSTANCE_ID = "i-0feedfacecafe00b5";
const COUNTS = [1, 2, 4];
const IPERF_PORT = 5301;
const option = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const SECONDS = option("--seconds", 10);
const ROUNDS = option("--rounds", 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (x: number) => (x / 1e6).toFixed(3);

/** One 1 ms sleep as Bun times it here: the fake's pacing period. */
async function sleepPeriodMs(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < 500; i++) await Bun.sleep(1);
  return (performance.now() - t0) / 500;
}

/** The bytes per second one iperf3 download received. */
async function iperf(ns: string, args: readonly string[]): Promise<number> {
  const r = await runInNamespace(ns, ["iperf3", "-c", VPC_HOST, "-R", "-t", String(SECONDS), "-J", ...args], { timeoutMs: (SECONDS + 30) * 1000 });
  if (r.code !== 0) throw new Error(`iperf3 ${args.join(" ")} failed (exit ${r.code}): ${r.out.slice(-500)} ${r.err}`);
  return (JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 8;
}

/** A client port from `from` up whose flow to iperf3 server `i` hashes to session `i` of `n`. */
function portFor(n: number, i: number, client: string, from: number): number {
  for (let port = from; ; port++) if (stripeOf(n, client, port, VPC_HOST, IPERF_PORT + i) === i) return port;
}

export async function benchStripes(): Promise<void> {
  const topology = createTunnelTopology("tsb");
  if (!topology.ok) throw new Error(`could not create the namespaces (run as root): ${topology.why}`);
  let runtimeDir = "";
  try {
    const services = await startTunnelServices(topology, INSTANCE_ID);
    runtimeDir = services.runtimeDir;
    for (let i = 0; i < Math.max(...COUNTS); i++) spawnInNamespace(topology.vpc, ["iperf3", "-s", "-B", VPC_HOST, "-p", String(IPERF_PORT + i)]);
    const period = await sleepPeriodMs();
    const cap = 1024 / (period / 1000);
    console.log(`machine: nproc ${navigator.hardwareConcurrency}, load ${(await Bun.file("/proc/loadavg").text()).trim()}, Bun ${Bun.version}`);
    console.log(`pacing cap per session: 1 ms sleep measured as ${period.toFixed(3)} ms -> ${mb(cap)} MB/s (nominal 1.024 MB/s); ${SECONDS} s x ${ROUNDS} rounds`);
    for (const n of COUNTS) {
      const name = `stripes-${n}`;
      const tunnel = spawnInNamespace(topology.client, [credproxyBinary(), "tunnel", "up", "--foreground", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", String(services.agentPort), "--name", name, "--sessions", String(n)], { env: services.env });
      const [, client] = await tunnel.waitForLine(/^tunnel up: \S+ via \S+ (\S+) -> /, 30_000, "stdout");
      await allSessionsUp(topology.client, services.env, name, n);
      const sums: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const flows = Array.from({ length: n }, (_, i) => iperf(topology.client, ["-p", String(IPERF_PORT + i), "--cport", String(portFor(n, i, client!, 42000 + round * 2000 + i * 300))]));
        const rates = await Promise.all(flows);
        sums.push(rates.reduce((a, b) => a + b, 0));
        console.log(`  N=${n} round ${round + 1}: flows ${rates.map(mb).join(" + ")} = ${mb(sums.at(-1)!)} MB/s`);
      }
      const ephemeral = n === 1 ? undefined : await iperf(topology.client, ["-p", String(IPERF_PORT), "-P", String(n)]);
      const m = median(sums);
      console.log(
        `N=${n}: median ${mb(m)} MB/s; N x cap ${mb(n * cap)} MB/s, ratio ${(m / (n * cap)).toFixed(2)}; to N x nominal ${(m / (n * 1.024e6)).toFixed(2)}` +
          (ephemeral === undefined ? "" : `; iperf3 -P ${n} with ephemeral ports ${mb(ephemeral)} MB/s`),
      );
      await tunnel.kill("SIGTERM", 15_000);
    }
  } finally {
    killRecordedTunnels(runtimeDir);
    await cleanupAll();
    topology.remove();
  }
}

async function allSessionsUp(ns: string, env: Record<string, string>, name: string, n: number): Promise<void> {
  await waitFor(
    async () => {
      const r = await runInNamespace(ns, [credproxyBinary(), "tunnel", "status", name, "--json"], { env, exactEnv: true });
      const [report] = JSON.parse(r.out || "[]") as { stripes?: { state: string }[] }[];
      return report?.stripes?.length === n && report.stripes.every((s) => s.state === "up");
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `all ${n} sessions of ${name} up` },
  );
}
