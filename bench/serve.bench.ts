/**
 * Benchmarks of `credproxy serve` (run with `npm run bench`; needs wrk and moto_server).
 * Every figure is compared with a reference measured in the same run, on this machine:
 *
 *  1. cached /v1/credentials under wrk -t2 -c50 (keep-alive) vs a minimal compiled Bun.serve
 *  2. start-up: process start until /health answers, median of 20 runs (10 services)
 *  3. idle RSS of serve with 10 services
 *  4. 10,000 requests spread over 100 services with cold caches: STS calls made
 *
 * Traffic goes only to 127.0.0.1. Prints a Markdown section for docs/BENCHMARKS.md.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { startMoto } from "../test/helpers/moto.ts";
import { freePort } from "../test/helpers/ports.ts";
import { startStsGate } from "../test/helpers/sts-gate.ts";

const BIN = join(import.meta.dir, "..", "dist", "credproxy");
const WORK = await mkdtemp(join(tmpdir(), "credproxy-bench-"));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DURATION = process.env.BENCH_DURATION ?? "10s";
const children: { kill(): void }[] = [];
process.on("exit", () => children.forEach((c) => c.kill()));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const log = (msg: string) => process.stderr.write(msg + "\n");

function token(i: number): string {
  return `bench-token-${String(i).padStart(4, "0")}-${"x".repeat(20)}`;
}

async function writeConfig(name: string, services: number, port: number, stsEndpoint: string, roleArn: (i: number) => string) {
  const lines = [
    `server: { host: 127.0.0.1, port: ${port} }`,
    "aws_defaults:",
    "  region: us-east-1",
    `  sts_endpoint: ${stsEndpoint}`,
    "  iam_keys: { aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY }",
    "services:",
  ];
  for (let i = 0; i < services; i++) {
    lines.push(`  svc${i}:`, `    auth_token: ${token(i)}`, `    assumed_role: { RoleArn: "${roleArn(i)}" }`);
  }
  const file = join(WORK, name);
  await writeFile(file, lines.join("\n") + "\n");
  return file;
}

function spawnServe(config: string) {
  const proc = Bun.spawn([BIN, "serve", "--config", config, "--log-level", "error"], {
    stdout: "ignore",
    stderr: "inherit",
    env: { PATH: process.env.PATH ?? "", HOME: WORK, AWS_EC2_METADATA_DISABLED: "true" },
  });
  children.push(proc);
  return proc;
}

async function untilAnswers(url: string, wantOk: boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (!wantOk || res.ok) return;
    } catch {}
    if (performance.now() > deadline) throw new Error(`${url} did not answer in ${timeoutMs} ms`);
    await Bun.sleep(1);
  }
}

interface WrkResult { rps: number; p50ms: number; p99ms: number; errors: string }
async function wrk(url: string, header?: string): Promise<WrkResult> {
  const args = ["wrk", "-t2", "-c50", `-d${DURATION}`, "--latency", ...(header ? ["-H", header] : []), url];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const ms = (label: string) => {
    const m = out.match(new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s)`, "m"));
    if (!m) throw new Error(`wrk output has no ${label}%:\n${out}`);
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
  const errors = (out.match(/Non-2xx or 3xx responses: \d+|Socket errors: .*/g) ?? []).join("; ");
  return { rps, p50ms: ms("50"), p99ms: ms("99"), errors };
}

async function throughput(stsEndpoint: string) {
  log("== throughput: cached /v1/credentials vs hello-world Bun.serve");
  const helloBin = join(WORK, "hello");
  const build = Bun.spawnSync(["bun", "build", "--compile", "--minify", join(import.meta.dir, "hello.ts"), "--outfile", helloBin]);
  if (build.exitCode !== 0) throw new Error(build.stderr.toString());
  const helloPort = await freePort();
  const hello = Bun.spawn([helloBin, String(helloPort)], { stdout: "ignore" });
  children.push(hello);
  await untilAnswers(`http://127.0.0.1:${helloPort}/`, true);

  const port = await freePort();
  const config = await writeConfig("throughput.yaml", 1, port, stsEndpoint, () => "arn:aws:iam::123456789012:role/bench");
  const serve = spawnServe(config);
  await untilAnswers(`http://127.0.0.1:${port}/health`, true);

  const rows: { round: number; hello: WrkResult; serve: WrkResult }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const h = await wrk(`http://127.0.0.1:${helloPort}/`);
    const s = await wrk(`http://127.0.0.1:${port}/v1/credentials`, `Authorization: ${token(0)}`);
    log(`round ${round}: hello ${h.rps.toFixed(0)} req/s, serve ${s.rps.toFixed(0)} req/s (ratio ${(s.rps / h.rps).toFixed(2)}), serve p99 ${s.p99ms} ms ${s.errors}`);
    rows.push({ round, hello: h, serve: s });
  }
  hello.kill();
  serve.kill();
  return rows;
}

async function startup(stsEndpoint: string) {
  log("== start-up to /health answering, 20 runs, 10 services; idle RSS");
  const times: number[] = [];
  let rssKb = 0;
  for (let run = 0; run < 20; run++) {
    const port = await freePort();
    const config = await writeConfig(`startup-${run}.yaml`, 10, port, stsEndpoint, (i) => `arn:aws:iam::123456789012:role/r${i}`);
    const t0 = performance.now();
    const proc = spawnServe(config);
    await untilAnswers(`http://127.0.0.1:${port}/health`, false);
    times.push(performance.now() - t0);
    if (run === 19) {
      await untilAnswers(`http://127.0.0.1:${port}/health`, true);
      await Bun.sleep(3000); // idle, after warm-up
      const status = await Bun.file(`/proc/${proc.pid}/status`).text();
      rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1]);
    }
    proc.kill();
    await proc.exited;
  }
  log(`start-up median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}); idle RSS ${(rssKb / 1024).toFixed(1)} MiB`);
  return { medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times), rssMiB: rssKb / 1024 };
}

async function coldHerd(motoEndpoint: string) {
  log("== 10,000 requests over 100 services, cold caches, STS calls counted at a gate in front of moto");
  const gate = await startStsGate(motoEndpoint);
  const port = await freePort();
  const config = await writeConfig("herd.yaml", 100, port, gate.endpoint, (i) => `arn:aws:iam::123456789012:role/h${i}`);
  const proc = spawnServe(config);
  await untilAnswers(`http://127.0.0.1:${port}/health`, false);
  const url = `http://127.0.0.1:${port}/v1/credentials`;
  const statuses = new Map<number, number>();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < 10_000) {
        const i = next++;
        const res = await fetch(url, { headers: { authorization: token(i % 100) } });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  const ms = performance.now() - t0;
  const calls = gate.assumeRoleCalls;
  log(`${calls} STS AssumeRole calls for 10,000 requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${ms.toFixed(0)} ms`);
  proc.kill();
  await gate.stop();
  return { calls, statuses: Object.fromEntries(statuses), ms };
}

const ONLY = process.env.BENCH_ONLY; // throughput | startup | herd: run one part while tuning
const moto = await startMoto();
try {
  if (ONLY) {
    await ({ throughput, startup, herd: coldHerd } as Record<string, (e: string) => Promise<unknown>>)[ONLY]!(moto.endpoint);
    process.exit(0);
  }
  const thr = await throughput(moto.endpoint);
  const up = await startup(moto.endpoint);
  const herd = await coldHerd(moto.endpoint);
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const ratio = median(thr.map((r) => r.serve.rps / r.hello.rps));
  const md = [
    `### serve (${new Date().toISOString().slice(0, 10)})`,
    "",
    `Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform} ${(await Bun.$`uname -r`.text()).trim()}, Bun ${Bun.version}. wrk and the server share the cores.`,
    "",
    "| round | hello Bun.serve req/s | serve /v1/credentials req/s | ratio | serve p50 | serve p99 |",
    "|---|---|---|---|---|---|",
    ...thr.map((r) => `| ${r.round} | ${r.hello.rps.toFixed(0)} | ${r.serve.rps.toFixed(0)} | ${(r.serve.rps / r.hello.rps).toFixed(2)} | ${r.serve.p50ms} ms | ${r.serve.p99ms} ms |`),
    "",
    `Median ratio: **${ratio.toFixed(2)}** (goal ≥ 0.7). wrk -t2 -c50 -d${DURATION}, keep-alive.`,
    "",
    `Start-up to /health answering (10 services), 20 runs: median **${up.medianMs.toFixed(1)} ms** (min ${up.minMs.toFixed(1)}, max ${up.maxMs.toFixed(1)}; goal < 150 ms). Idle RSS with 10 services: **${up.rssMiB.toFixed(1)} MiB** (goal < 60 MB).`,
    "",
    `Cold herd: 10,000 requests over 100 services, 100 concurrent clients → **${herd.calls} STS calls** (goal 100), statuses ${JSON.stringify(herd.statuses)}, ${herd.ms.toFixed(0)} ms.`,
  ].join("\n");
  console.log(md);
} finally {
  await moto.stop();
  for (const c of children) c.kill();
}
