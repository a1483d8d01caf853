/**
 * serve's start-up and idle memory, this build against another (a build of an older commit),
 * alternating the two in one run so both see the same machine load:
 *
 *   BENCH_BASE_BIN=/tmp/credproxy-old bun bench/serve-footprint.bench.ts
 *
 * - start-up: spawn() until /health answers (any status), 10 services, median of 20 runs each;
 * - memory: smaps_rollup Anonymous (not RSS, which counts the executable's clean pages) of
 *   serve with 10 ready services, 3 s after the last one became ready, median of 5 runs each.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMoto } from "../test/helpers/moto.ts";
import { freePort } from "../test/helpers/ports.ts";

const CURRENT = join(import.meta.dir, "..", "dist", "credproxy");
const BASE = process.env.BENCH_BASE_BIN;
if (!BASE) throw new Error("set BENCH_BASE_BIN to the binary to compare with (e.g. a build of the previous release)");
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const WORK = await mkdtemp(join(tmpdir(), "credproxy-footprint-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function config(port: number, sts: string): Promise<string> {
  const services = Array.from({ length: 10 }, (_, i) => `  s${i}:\n    auth_token: "bench-token-${i}-5f0c2e9a7b14d386"\n    assumed_role: { RoleArn: "arn:aws:iam::123456789012:role/role-a" }`);
  const file = join(WORK, `c-${port}.yaml`);
  await writeFile(file, [`server: { port: ${port} }`, `aws_defaults: { region: us-east-1, sts_endpoint: "${sts}", iam_keys: { aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: secretsecretsecret } }`, "services:", ...services].join("\n"));
  return file;
}

async function until(url: string, ok: boolean): Promise<void> {
  for (let i = 0; i < 4000; i++) {
    const res = await fetch(url).catch(() => undefined);
    if (res && (!ok || res.ok)) return;
    await Bun.sleep(5);
  }
  throw new Error(`${url} did not answer`);
}

async function once(bin: string, sts: string, measureMemory: boolean): Promise<{ ms: number; anonKiB: number | undefined }> {
  const port = await freePort();
  const file = await config(port, sts);
  const t0 = performance.now();
  const proc = Bun.spawn([bin, "serve", "--config", file, "--log-level", "error"], { stdout: "ignore", stderr: "ignore" });
  await until(`http://127.0.0.1:${port}/health`, false);
  const ms = performance.now() - t0;
  let anonKiB: number | undefined;
  if (measureMemory) {
    await until(`http://127.0.0.1:${port}/health`, true);
    await Bun.sleep(3000);
    anonKiB = Number(/Anonymous:\s+(\d+)/.exec(await Bun.file(`/proc/${proc.pid}/smaps_rollup`).text())?.[1]);
  }
  proc.kill();
  await proc.exited;
  return { ms, anonKiB };
}

const moto = await startMoto();
const result = { base: { ms: [] as number[], anon: [] as number[] }, current: { ms: [] as number[], anon: [] as number[] } };
for (let run = 0; run < RUNS; run++) {
  for (const [name, bin] of [["base", BASE], ["current", CURRENT]] as const) {
    const r = await once(bin, moto.endpoint, run < 5);
    result[name].ms.push(r.ms);
    if (r.anonKiB !== undefined) result[name].anon.push(r.anonKiB);
  }
}
await moto.stop();
const row = (name: "base" | "current") =>
  `| ${name} | ${median(result[name].ms).toFixed(1)} ms | ${(median(result[name].anon) / 1024).toFixed(1)} MiB |`;
console.log(`| build | start-up to /health (median of ${RUNS}) | idle Anonymous, 10 services (median of 5) |\n|---|---|---|\n${row("base")}\n${row("current")}`);
console.log(`ratio current/base: start-up ${(median(result.current.ms) / median(result.base.ms)).toFixed(2)}, memory ${(median(result.current.anon) / median(result.base.anon)).toFixed(2)}`);
