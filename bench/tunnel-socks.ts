/**
 * The socks-mode case of the tunnel benchmark (issue 13): `credproxy tunnel socks` against
 * `agent --mode socks` beside `tunnel up` (TUN mode) against a tun-mode agent, in the same
 * topology and through the same paced fake SSM (1024-byte reads, 1 ms sleeps toward the client).
 * Each mode gets fresh processes. Per mode and sender congestion control:
 *
 * - an iperf3 -R download for S seconds, against the measured pacing cap: TUN mode to the vpc
 *   host's address; socks mode through an `-L` forward to the vpc host's iperf3 port (iperf3's
 *   control and data connections are all TCP to that one port, so one forward carries them);
 * - the TCP echo probe (tunnel-probe.ts echo: 32 bytes every 200 ms on one connection) idle and
 *   beside the download: through the TUN, or through a second `-L` to the vpc echo port.
 *
 * Run by `bun bench/tunnel.bench.ts --socks [--seconds S] [--rounds R] [--cc cubic,bbr]`, as
 * root with iperf3 installed, after `bun build.ts`.
 */
import { join } from "node:path";
import { credproxyBinary, tempDir, type CredproxyProcess } from "../test/helpers/binary.ts";
import { cleanupAll } from "../test/helpers/cleanup.ts";
import { killRecordedTunnels, tunnelClientEnv } from "../test/helpers/tunnel-client-env.ts";
import { ECHO_PORT } from "../test/helpers/tunnel-hosts/vpc-ports.ts";
import { createTunnelTopology, existingNamespaces, INSTANCE_ADDRESS, runInNamespace, spawnInNamespace, VPC_CIDR, VPC_HOST, type TunnelTopology } from "../test/helpers/tunnel-topology.ts";

const HELPERS = join(import.meta.dir, "../test/helpers");
const INSTANCE_ID = "i-0feedfacecafe00b6";
const IPERF_PORT = 5201;
const IPERF_FORWARD = 15201;
const ECHO_FORWARD = 17001;
const option = (name: string, fallback: string) => {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : process.argv[at + 1]!;
};
const SECONDS = Number(option("--seconds", "10"));
const ROUNDS = Number(option("--rounds", "3"));
const CCS = option("--cc", "cubic,bbr").split(",");
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const quantile = (xs: number[], q: number) => (xs.length === 0 ? NaN : sorted(xs)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!);
const mb = (x: number) => (x / 1e6).toFixed(3);
const ms = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(1));

/** Where the client namespace reaches iperf3 and the echo server for one mode. */
interface Path {
  readonly iperf: { host: string; port: number };
  readonly echo: { host: string; port: number };
}

interface Mode {
  readonly label: string;
  readonly path: Path;
  /** Starts agent, fake SSM and client; resolves with them, to be stopped afterwards. */
  start(): Promise<CredproxyProcess[]>;
}

interface Row {
  readonly label: string;
  readonly cc: string;
  readonly rates: number[];
  readonly idle: number[];
  readonly loaded: number[];
}

/** The agent (with `agentArgs`) and the paced fake SSM in front of it, in the instance namespace. */
async function startInstanceSide(topology: TunnelTopology, agentArgs: readonly string[]): Promise<{ processes: CredproxyProcess[]; agentPort: string; apiUrl: string }> {
  const agent = spawnInNamespace(topology.instance, [credproxyBinary(), "agent", "--listen", "127.0.0.1:0", ...agentArgs]);
  const [, agentPort] = await agent.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), /, 15_000, "stdout");
  const fakeArgs = ["--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${agentPort}`, "--instance", INSTANCE_ID, "--read-pause-ms", "1"];
  const fake = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), ...fakeArgs]);
  const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
  return { processes: [agent, fake], agentPort: agentPort!, apiUrl: apiUrl! };
}

function modes(topology: TunnelTopology, ec2: string, runtimeDir: string): Mode[] {
  const client = async (agentArgs: readonly string[], clientArgs: readonly string[]): Promise<CredproxyProcess[]> => {
    const side = await startInstanceSide(topology, agentArgs);
    const env = tunnelClientEnv({ ssm: side.apiUrl, ec2 }, runtimeDir);
    const common = ["--foreground", "--instance-id", INSTANCE_ID, "--agent-port", side.agentPort];
    const tunnel = spawnInNamespace(topology.client, [credproxyBinary(), "tunnel", ...clientArgs, ...common], { env });
    await tunnel.waitForLine(/^tunnel up: /, 30_000, "stdout");
    return [...side.processes, tunnel];
  };
  const forward = (local: number, port: number) => ["-L", `${local}:${VPC_HOST}:${port}`];
  return [
    {
      label: "TUN mode (tunnel up)",
      path: { iperf: { host: VPC_HOST, port: IPERF_PORT }, echo: { host: VPC_HOST, port: ECHO_PORT } },
      start: () => client([], ["up", "--cidr", VPC_CIDR, "--name", "bench-tun"]),
    },
    {
      label: "socks mode (tunnel socks, -L)",
      path: { iperf: { host: "127.0.0.1", port: IPERF_FORWARD }, echo: { host: "127.0.0.1", port: ECHO_FORWARD } },
      start: () =>
        client(["--mode", "socks", "--allow-cidr", VPC_CIDR], ["socks", "--listen", "127.0.0.1:1080", ...forward(IPERF_FORWARD, IPERF_PORT), ...forward(ECHO_FORWARD, ECHO_PORT), "--name", "bench-socks"]),
    },
  ];
}

async function iperfDownload(ns: string, path: Path, cc: string): Promise<number> {
  const command = ["iperf3", "-c", path.iperf.host, "-p", String(path.iperf.port), "-R", "-C", cc, "-t", String(SECONDS), "-J"];
  const r = await runInNamespace(ns, command, { timeoutMs: (SECONDS + 30) * 1000 });
  if (r.code !== 0) throw new Error(`iperf3 failed (exit ${r.code}): ${r.out.slice(-500)} ${r.err}`);
  return (JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 8;
}

/** The echo probe's round trips, 200 ms apart, until `until` (a file that appears, or a count). */
async function echoTimes(ns: string, path: Path, until: string): Promise<number[]> {
  const probe = [process.execPath, join(HELPERS, "tunnel-hosts/tunnel-probe.ts"), "echo", path.echo.host, String(path.echo.port), "200", until];
  const r = await runInNamespace(ns, probe, { timeoutMs: (SECONDS + 60) * 1000 });
  const last = r.out.split("\n").at(-1) ?? "";
  const result = (last.startsWith("{") ? JSON.parse(last) : {}) as { rttMs?: number[] };
  if (!result.rttMs || result.rttMs.length === 0) throw new Error(`echo probe gave no RTT (exit ${r.code}): ${r.out.slice(-300)} ${r.err}`);
  return result.rttMs;
}

/** One mode with fresh processes: the idle probe, then ROUNDS downloads per sender with the probe beside. */
async function measure(topology: TunnelTopology, mode: Mode, dir: string): Promise<Row[]> {
  console.error(`${new Date().toISOString()} ${mode.label}`);
  const processes = await mode.start();
  try {
    const idle = await echoTimes(topology.client, mode.path, String(Math.max(15, SECONDS * 3)));
    const rows: Row[] = [];
    for (const cc of CCS) {
      const row: Row = { label: mode.label, cc, rates: [], idle, loaded: [] };
      for (let i = 0; i < ROUNDS; i++) {
        const stop = join(dir, `socks-bench-${rows.length}-${cc}-${i}-${mode.path.echo.port}.stop`);
        const download = iperfDownload(topology.client, mode.path, cc).finally(() => Bun.write(stop, ""));
        const [rate, loaded] = await Promise.all([download, echoTimes(topology.client, mode.path, stop)]);
        row.rates.push(rate);
        row.loaded.push(...loaded);
      }
      rows.push(row);
    }
    return rows;
  } finally {
    for (const p of processes.reverse()) await p.kill("SIGTERM", 10_000).catch(() => p.kill("SIGKILL"));
  }
}

/** One 1 ms sleep as Bun times it here: the fake's pacing period. */
async function sleepPeriodMs(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < 500; i++) await Bun.sleep(1);
  return (performance.now() - t0) / 500;
}

function report(rows: Row[], period: number): void {
  const cap = 1024 / (period / 1000);
  console.log(`machine: nproc ${navigator.hardwareConcurrency}, load ${Bun.spawnSync(["cat", "/proc/loadavg"]).stdout.toString().trim()}, Bun ${Bun.version}; ${ROUNDS} rounds of ${SECONDS} s`);
  console.log(`pacing cap: 1 ms sleep measured as ${period.toFixed(3)} ms -> ${mb(cap)} MB/s (nominal 1.024 MB/s)\n`);
  console.log("| mode | sender | iperf3 -R median | of the cap | TCP echo idle median | under load median (+rise) | under load p90 (+rise) | samples |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const rate = quantile(r.rates, 0.5);
    const idle50 = quantile(r.idle, 0.5);
    const idle90 = quantile(r.idle, 0.9);
    const [load50, load90] = [quantile(r.loaded, 0.5), quantile(r.loaded, 0.9)];
    console.log(
      `| ${r.label} | ${r.cc} | ${mb(rate)} MB/s (${r.rates.map(mb).join(", ")}) | ${(rate / cap).toFixed(2)} | ${ms(idle50)} ms (p90 ${ms(idle90)}) | ${ms(load50)} ms (+${ms(load50 - idle50)}) | ${ms(load90)} ms (+${ms(load90 - idle90)}) | ${r.loaded.length} |`,
    );
  }
}

export async function benchSocks(): Promise<void> {
  const topology = createTunnelTopology("tsk");
  if (!topology.ok) throw new Error(`could not create the namespaces (run as root): ${topology.why}`);
  let runtimeDir = "";
  try {
    const vpc = spawnInNamespace(topology.vpc, [process.execPath, join(HELPERS, "tunnel-hosts/vpc-services.ts"), "--answer", VPC_HOST]);
    await vpc.waitForLine(/^vpc services ready$/, 10_000, "stdout");
    spawnInNamespace(topology.vpc, ["iperf3", "-s", "-B", VPC_HOST, "-p", String(IPERF_PORT)]);
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    runtimeDir = await tempDir("credproxy-bench-socks-rt-");
    const period = await sleepPeriodMs();
    const rows: Row[] = [];
    for (const mode of modes(topology, ec2!, runtimeDir)) rows.push(...(await measure(topology, mode, runtimeDir)));
    report(rows, period);
  } finally {
    killRecordedTunnels(runtimeDir);
    await cleanupAll();
    topology.remove();
    const left = existingNamespaces().filter((ns) => [topology.client, topology.instance, topology.vpc].includes(ns));
    if (left.length > 0) console.error(`namespaces left behind: ${left.join(" ")}`);
  }
}
