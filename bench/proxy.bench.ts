/**
 * `credproxy proxy` against mitmdump and mockttp, side by side in one run, all on 127.0.0.1:
 *
 *   node_modules/.bin/bun bench/proxy.bench.ts
 *
 * Needs hey and mitmdump (Debian: apt-get install hey mitmproxy), openssl and npm; mockttp is
 * installed at run time into .bench/mockttp (it is not a dependency of credproxy).
 *
 * - The origin is a Bun.serve with TLS in this process (faster than node:https on Bun, so the
 *   direct row is a higher ceiling), its certificate for localhost and 127.0.0.1 from an
 *   openssl-made CA, on 127.0.0.1:443 (BENCH_ORIGIN_PORT): hey sets its TLS server name to
 *   the URL's host *with* the port ("localhost:8443"), which credproxy rightly answers 421;
 *   on the default port the URL has no port, so the SNI is plain "localhost". It answers a 38-byte JSON body and counts the requests that carried
 *   Authorization: a proxy that does not inject is not comparable, so each is checked first,
 *   and every timed run reports whether all its requests were injected.
 * - Load: hey through each proxy (`-x`, CONNECT then TLS inside; hey does not verify
 *   certificates), keep-alive at c=1, 10, 50 and a new connection per request at c=10,
 *   BENCH_ROUNDS rounds (default 3) of BENCH_DURATION (default 5s), the targets interleaved
 *   within each round so they share the machine's load. Latency from hey's CSV (0.1 ms steps);
 *   req/s = responses / (last response end).
 * - First request to a new host: a fresh credproxy process per sample, one CONNECT + TLS +
 *   GET timed from this process (leaf minted, upstream dialled), then a second connection to
 *   the same host (leaf cached, upstream connection pooled).
 * - Memory: smaps_rollup Anonymous (not RSS) of the credproxy process idle, after the load,
 *   and of a separate `intercept: all` proxy after TLS handshakes for 1,000 distinct IP
 *   literals (127.0.0.1 … 127.0.3.232): the proxy mints the leaf when it terminates the
 *   client's TLS, before it dials upstream, so no origin needs to listen there.
 *
 * BENCH_ONLY=load|first|memory runs one part; BENCH_SCENARIOS="keep-alive c=10" keeps only the
 * scenarios whose label ends so. BENCH_BIN=path measures another build than
 * dist/credproxy; BENCH_EXTRA_BIN=path adds a second credproxy
 * build (e.g. an experiment) as its own row, started the same way.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { checkServerIdentity, connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestPki } from "../test/helpers/test-ca.ts";
import { freePort } from "../test/helpers/ports.ts";

const ROOT = join(import.meta.dir, "..");
const CREDPROXY = process.env.BENCH_BIN ?? join(ROOT, "dist", "credproxy");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION = process.env.BENCH_DURATION ?? "5s";
const FIRST_SAMPLES = Number(process.env.BENCH_FIRST_SAMPLES ?? 20);
const ONLY = process.env.BENCH_ONLY;
const EXTRA_BIN = process.env.BENCH_EXTRA_BIN;
const ORIGIN_PORT = Number(process.env.BENCH_ORIGIN_PORT ?? 443);
const SECRET = "Bearer bench-injected-secret";
const BODY = '{"ok":true,"origin":"bench","n":12345}';
const WORK = mkdtempSync(join(tmpdir(), "credproxy-proxy-bench-"));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

// ---------------------------------------------------------------------------------------------
// origin

const pki = await makeTestPki(join(WORK, "origin"), { names: ["localhost"], ips: ["127.0.0.1"] });
const seen = { total: 0, injected: 0 };
const origin = Bun.serve({
  hostname: "127.0.0.1",
  port: ORIGIN_PORT,
  tls: { cert: pki.certPem, key: pki.keyPem },
  fetch(req) {
    seen.total++;
    const auth = req.headers.get("authorization") === SECRET;
    if (auth) seen.injected++;
    return new Response(BODY, { headers: { "content-type": "application/json", "x-saw-auth": auth ? "yes" : "no" } });
  },
});
/** localhost, or localhost:PORT off 443: the authority in the URL, the CONNECT and the Host header. */
const AUTHORITY = origin.port === 443 ? "localhost" : `localhost:${origin.port}`;
const TARGET = `https://${AUTHORITY}/`;

// ---------------------------------------------------------------------------------------------
// the proxies

interface Proxy {
  readonly name: string;
  /** http://127.0.0.1:PORT, or undefined for the direct row. */
  readonly url: string | undefined;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** Polls until something accepts TCP connections on the port. */
async function untilListening(port: number, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: "127.0.0.1", port }, () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(`${what} did not listen on ${port}`);
}

/** Waits for "listening on http://127.0.0.1:PORT" in a file the child writes its stdout to. */
async function listeningLine(file: string, proc: { exitCode: number | null }, what: string): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(await Bun.file(file).text().catch(() => ""));
    if (m) return Number(m[1]);
    if (proc.exitCode !== null) break;
    await Bun.sleep(25);
  }
  throw new Error(`${what} did not start: ${await Bun.file(file).text().catch(() => "")}`);
}

function stopper(proc: ReturnType<typeof Bun.spawn>): () => Promise<void> {
  return async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  };
}

async function startMitmdump(): Promise<Proxy> {
  const dir = join(WORK, "mitm");
  await mkdir(join(dir, "conf"), { recursive: true });
  const addon = join(dir, "inject.py");
  await writeFile(addon, `def request(flow):\n    flow.request.headers["Authorization"] = ${JSON.stringify(SECRET)}\n`);
  const port = await freePort();
  const proc = Bun.spawn(
    ["/usr/bin/mitmdump", "--listen-host", "127.0.0.1", "--listen-port", String(port), "--set", `confdir=${join(dir, "conf")}`, "--ssl-insecure", "-q", "-s", addon],
    { stdout: Bun.file(join(dir, "out.log")), stderr: Bun.file(join(dir, "err.log")) },
  );
  await untilListening(port, "mitmdump");
  return { name: "mitmdump", url: `http://127.0.0.1:${port}`, pid: proc.pid, stop: stopper(proc) };
}

async function installMockttp(): Promise<string> {
  const dir = join(ROOT, ".bench", "mockttp");
  if (!(await Bun.file(join(dir, "node_modules", "mockttp", "package.json")).exists())) {
    const npm = Bun.spawnSync(["npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "mockttp"], { stdout: "ignore", stderr: "pipe" });
    if (npm.exitCode !== 0) throw new Error(`npm install mockttp failed: ${npm.stderr.toString().slice(-500)}`);
  }
  return dir;
}

async function startMockttp(): Promise<Proxy> {
  const dir = await installMockttp();
  const out = join(WORK, "mockttp.log");
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "mockttp-proxy.mjs"), dir, pki.caFile, SECRET], { stdout: Bun.file(out), stderr: "inherit" });
  const port = await listeningLine(out, proc, "mockttp");
  return { name: "mockttp", url: `http://127.0.0.1:${port}`, pid: proc.pid, stop: stopper(proc) };
}

async function startCredproxy(name: string, yaml: string, bin = CREDPROXY): Promise<Proxy> {
  const dir = join(WORK, name.replace(/\W+/g, "-"));
  await mkdir(join(dir, "logs"), { recursive: true });
  const config = join(dir, "proxy.yaml");
  await writeFile(config, yaml);
  const out = join(dir, "logs", `out-${Date.now()}-${Math.random()}.log`);
  // The generated CA goes to $XDG_CONFIG_HOME/credproxy/proxy-ca; request logs go to a file
  // outside the config's directory, which the proxy watches.
  const proc = Bun.spawn([bin, "proxy", "--config", config, "--listen", "127.0.0.1:0"], {
    env: { ...process.env, XDG_CONFIG_HOME: join(WORK, "xdg") },
    stdout: Bun.file(out),
    stderr: Bun.file(`${out}.err`),
  });
  const port = await listeningLine(out, proc, "credproxy proxy");
  return { name, url: `http://127.0.0.1:${port}`, pid: proc.pid, stop: stopper(proc) };
}

const credproxyYaml = `
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["${AUTHORITY}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: bench
    host: ${AUTHORITY}
    value: "${SECRET}"
`;

function anonymousKiB(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  if (!m) throw new Error(`no Anonymous line for ${pid}`);
  return Number(m[1]);
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

// ---------------------------------------------------------------------------------------------
// hey

interface HeyRun {
  rps: number;
  p50: number;
  p99: number;
  n: number;
  non200: number;
  /** Requests the origin saw during the run, and how many carried the injected header. */
  originTotal: number;
  originInjected: number;
}

interface Scenario {
  readonly label: string;
  readonly c: number;
  readonly keepAlive: boolean;
}

/** BENCH_SCENARIOS=a,b keeps the scenarios whose label contains one of them (quick experiments). */
const SCENARIOS: Scenario[] = [
  { label: "keep-alive c=1", c: 1, keepAlive: true },
  { label: "keep-alive c=10", c: 10, keepAlive: true },
  { label: "keep-alive c=50", c: 50, keepAlive: true },
  { label: "new connection per request c=10", c: 10, keepAlive: false },
].filter((s) => !process.env.BENCH_SCENARIOS || process.env.BENCH_SCENARIOS.split(",").some((part) => s.label.endsWith(part)));

async function hey(proxy: Proxy, args: string[]): Promise<HeyRun> {
  const before = { ...seen };
  const proc = Bun.spawn(["hey", ...args, "-o", "csv", ...(proxy.url ? ["-x", proxy.url] : []), TARGET], { stdout: "pipe", stderr: "pipe" });
  const [text, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if ((await proc.exited) !== 0) throw new Error(`hey failed for ${proxy.name}: ${err.slice(0, 300)}`);
  const latencies: number[] = [];
  let end = 0;
  let non200 = 0;
  for (const line of text.split("\n").slice(1)) {
    const cols = line.split(",");
    if (cols.length < 8) continue;
    const t = Number(cols[0]);
    latencies.push(t * 1000);
    if (cols[6] !== "200") non200++;
    end = Math.max(end, Number(cols[7]) + t);
  }
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / end,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    n: latencies.length,
    non200,
    originTotal: seen.total - before.total,
    originInjected: seen.injected - before.injected,
  };
}

/** A proxy that does not inject is not comparable: check it before timing it. */
async function sanity(proxy: Proxy): Promise<void> {
  const r = await hey(proxy, ["-n", "20", "-c", "2"]);
  const wanted = proxy.url ? 20 : 0;
  if (r.n !== 20 || r.non200 !== 0 || r.originTotal !== 20 || r.originInjected !== wanted) {
    throw new Error(`${proxy.name} sanity failed: ${JSON.stringify(r)} (want 20 responses of 200, ${wanted} injected)`);
  }
  console.error(`sanity: ${proxy.name}: 20/20 answered 200, origin saw ${r.originInjected}/20 with the injected Authorization`);
}

async function load(): Promise<void> {
  const direct: Proxy = { name: "direct", url: undefined, pid: undefined, stop: async () => {} };
  const credproxy = await startCredproxy("credproxy", credproxyYaml);
  const targets = [direct, await startMitmdump(), await startMockttp(), credproxy];
  if (EXTRA_BIN) targets.push(await startCredproxy("credproxy (experiment)", credproxyYaml, EXTRA_BIN));
  await Bun.sleep(2000);
  const idle = anonymousKiB(credproxy.pid!);
  for (const t of targets) await sanity(t);
  // warm-up: JITs, pools
  for (const t of targets) await hey(t, ["-z", "2s", "-c", "10"]);

  const results = new Map<string, HeyRun[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of SCENARIOS) {
      for (const t of targets) {
        const r = await hey(t, ["-z", DURATION, "-c", String(s.c), ...(s.keepAlive ? [] : ["-disable-keepalive"])]);
        const key = `${s.label}|${t.name}`;
        results.set(key, [...(results.get(key) ?? []), r]);
        const injected = t.url ? `${r.originInjected}/${r.originTotal} injected` : "";
        console.error(`round ${round} ${s.label} ${t.name}: ${fmt(r.rps)} req/s p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms, ${r.non200} non-200 ${injected}`);
      }
    }
  }
  await Bun.sleep(2000);
  const afterLoad = anonymousKiB(credproxy.pid!);
  const load1 = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  for (const t of targets) await t.stop();

  console.log(`\n### Load (${ROUNDS} rounds of ${DURATION} each, medians; load average at the end ${load1})\n`);
  console.log("| scenario | target | req/s median (min–max) | p50 ms | p99 ms | × mitmdump req/s | all 200, all injected |");
  console.log("|---|---|---|---|---|---|---|");
  for (const s of SCENARIOS) {
    const mitmRps = median(results.get(`${s.label}|mitmdump`)!.map((r) => r.rps));
    for (const t of targets) {
      const rs = results.get(`${s.label}|${t.name}`)!;
      const rps = rs.map((r) => r.rps);
      const ok = rs.every((r) => r.non200 === 0 && r.n > 0 && (t.url ? r.originInjected === r.originTotal : true));
      console.log(
        `| ${s.label} | ${t.name} | ${fmt(median(rps))} (${fmt(Math.min(...rps))}–${fmt(Math.max(...rps))}) | ${median(rs.map((r) => r.p50)).toFixed(1)} | ${median(rs.map((r) => r.p99)).toFixed(1)} | ${(median(rps) / mitmRps).toFixed(2)} | ${ok ? "yes" : "NO"} |`,
      );
    }
  }
  const c1 = (name: string) => results.get(`keep-alive c=1|${name}`)!;
  if (!results.has("keep-alive c=1|direct")) return console.log(`\ncredproxy proxy smaps Anonymous: idle ${mib(idle)}, after the load ${mib(afterLoad)}`);
  console.log(`\nAdded latency over direct at c=1 (median of rounds): p50 and mean per request (1 / req/s):\n`);
  console.log("| target | added p50 ms | added mean ms |\n|---|---|---|");
  for (const t of targets.slice(1)) {
    const addP50 = median(c1(t.name).map((r) => r.p50)) - median(c1("direct").map((r) => r.p50));
    const addMean = 1000 / median(c1(t.name).map((r) => r.rps)) - 1000 / median(c1("direct").map((r) => r.rps));
    console.log(`| ${t.name} | ${addP50.toFixed(1)} | ${addMean.toFixed(2)} |`);
  }
  console.log(`\ncredproxy proxy smaps Anonymous: idle ${mib(idle)}, after the load ${mib(afterLoad)}`);
}

// ---------------------------------------------------------------------------------------------
// first request to a new host, and memory with 1,000 leaves

/** CONNECT to the proxy, read its 200, and hand back the raw socket. */
function connectTunnel(proxyPort: number, authority: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port: proxyPort }, () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      if (!head.startsWith("HTTP/1.1 200")) return reject(new Error(`CONNECT ${authority}: ${head.slice(0, 200)}`));
      resolve(socket);
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

/** A TLS handshake inside a tunnel to `host` (SNI only for a name), trusting the proxy's CA. */
function handshake(raw: Socket, host: string, ca: string) {
  const servername = isIP(host) ? undefined : host;
  return new Promise<ReturnType<typeof tlsConnect>>((resolve, reject) => {
    const tls = tlsConnect({ socket: raw, servername, ca, rejectUnauthorized: true, checkServerIdentity: (_, cert) => checkServerIdentity(host, cert) }, () => resolve(tls));
    tls.once("error", reject);
  });
}

/** One GET over a fresh CONNECT tunnel (or straight to the origin); the time from dialling to the whole body. */
async function timedRequest(proxyPort: number | undefined, ca: string): Promise<number> {
  const t0 = performance.now();
  const raw =
    proxyPort === undefined
      ? await new Promise<Socket>((resolve, reject) => {
          const s = netConnect({ host: "127.0.0.1", port: origin.port! }, () => resolve(s));
          s.once("error", reject);
        })
      : await connectTunnel(proxyPort, origin.port === 443 ? "localhost:443" : AUTHORITY);
  const tls = await handshake(raw, "localhost", ca);
  const text = await new Promise<string>((resolve, reject) => {
    let got = "";
    tls.on("data", (chunk: Buffer) => {
      got += chunk.toString();
      if (got.includes("\r\n\r\n") && got.endsWith(BODY)) resolve(got);
    });
    tls.once("error", reject);
    tls.write(`GET / HTTP/1.1\r\nHost: ${AUTHORITY}\r\nConnection: close\r\n\r\n`);
  });
  const ms = performance.now() - t0;
  tls.destroy();
  if (proxyPort !== undefined && !text.includes("x-saw-auth: yes")) throw new Error(`not injected: ${text.slice(0, 200)}`);
  return ms;
}

async function firstRequest(): Promise<void> {
  const first: number[] = [];
  const second: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < FIRST_SAMPLES; i++) {
    direct.push(await timedRequest(undefined, pki.caPem));
    const proxy = await startCredproxy("credproxy-first", credproxyYaml);
    const ca = readFileSync(join(WORK, "xdg", "credproxy", "proxy-ca", "ca.pem"), "utf8");
    const port = Number(new URL(proxy.url!).port);
    first.push(await timedRequest(port, ca));
    second.push(await timedRequest(port, ca));
    await proxy.stop();
  }
  first.sort((a, b) => a - b);
  second.sort((a, b) => a - b);
  direct.sort((a, b) => a - b);
  console.log(`\n### First request to a new host through a fresh credproxy proxy (${FIRST_SAMPLES} processes)\n`);
  console.log("| request | p50 ms | p99 (max) ms |\n|---|---|---|");
  console.log(`| first: CONNECT + leaf mint + TLS + upstream dial + GET | ${percentile(first, 50).toFixed(2)} | ${percentile(first, 99).toFixed(2)} |`);
  console.log(`| second, new connection: leaf cached | ${percentile(second, 50).toFixed(2)} | ${percentile(second, 99).toFixed(2)} |`);
  console.log(`| reference: direct to the origin, new TLS connection + GET | ${percentile(direct, 50).toFixed(2)} | ${percentile(direct, 99).toFixed(2)} |`);
}

async function thousandLeaves(): Promise<void> {
  const proxy = await startCredproxy(
    "credproxy-leaves",
    `
policy: permissive
intercept: all
allow_addresses: ["127.0.0.0/8"]
`,
  );
  const ca = readFileSync(join(WORK, "xdg", "credproxy", "proxy-ca", "ca.pem"), "utf8");
  const port = Number(new URL(proxy.url!).port);
  await Bun.sleep(2000);
  const idle = anonymousKiB(proxy.pid!);
  const HOSTS = 1000;
  const ips = Array.from({ length: HOSTS }, (_, i) => `127.0.${(i + 1) >> 8}.${(i + 1) & 255}`);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < ips.length) {
      const ip = ips[next++]!;
      // IP literal: no SNI; the leaf carries the IP SAN, which the client verifies.
      const tls = await handshake(await connectTunnel(port, `${ip}:443`), ip, ca);
      tls.destroy();
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const mintMs = performance.now() - t0;
  const metrics = await (await fetch(`${proxy.url}/_credproxy/metrics`)).text();
  const cached = Number(/^credproxy_proxy_leaf_cache_size (\d+)/m.exec(metrics)?.[1]);
  await Bun.sleep(3000);
  const after = anonymousKiB(proxy.pid!);
  await proxy.stop();
  console.log(`\n### 1,000 leaves cached (intercept: all; ${HOSTS} TLS handshakes to distinct IP literals in ${fmt(mintMs)} ms, 4 at a time)\n`);
  console.log(`leaf cache size reported by /_credproxy/metrics: ${cached}`);
  console.log(`smaps Anonymous: idle ${mib(idle)}, with ${HOSTS} leaves ${mib(after)} (+${((after - idle) / HOSTS).toFixed(1)} KiB per host)`);
}

try {
  const nproc = navigator.hardwareConcurrency;
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  const mitmVersion = Bun.spawnSync(["/usr/bin/mitmdump", "--version"]).stdout.toString().split("\n")[0];
  console.log(`## credproxy proxy (${new Date().toISOString().slice(0, 10)})\n`);
  console.log(`Machine: ${nproc} × ${cpu}, Linux ${kernel}, Bun ${Bun.version}; ${mitmVersion}; origin Bun.serve (TLS) on 127.0.0.1:${origin.port}`);
  if (!ONLY || ONLY === "load") await load();
  if (!ONLY || ONLY === "first") await firstRequest();
  if (!ONLY || ONLY === "memory") await thousandLeaves();
} finally {
  origin.stop(true);
  rmSync(WORK, { recursive: true, force: true });
}
