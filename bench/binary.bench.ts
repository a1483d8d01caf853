/**
 * Start-up of the compiled binary to `--version`: plain `--compile` vs `--minify --bytecode
 * --format=esm` (what build.ts ships), measured in the same run with hyperfine (Debian package).
 * Also the release image's size if dist/scratch exists. Prints a Markdown section.
 */
import { join } from "node:path";
import { compile } from "../build.ts";

const dir = join(import.meta.dir, "..", ".bench");
const plain = join(dir, "credproxy-plain");
const bytecode = join(dir, "credproxy-bytecode");
await compile({ outfile: plain, bytecode: false, minify: false });
await compile({ outfile: bytecode });
const json = join(dir, "hyperfine.json");
const run = Bun.spawnSync(["hyperfine", "-N", "--warmup", "5", "--runs", "50", "--export-json", json, `${plain} --version`, `${bytecode} --version`], { stderr: "inherit" });
if (run.exitCode !== 0) throw new Error("hyperfine failed (apt-get install hyperfine)");
const results = ((await Bun.file(json).json()) as { results: { command: string; median: number; min: number; max: number }[] }).results;
const ms = (s: number) => (s * 1000).toFixed(1);
const size = async (p: string) => ((await Bun.file(p).size) / 2 ** 20).toFixed(1);
console.log(["| build | median | min | max | size |", "|---|---|---|---|---|",
  ...await Promise.all(results.map(async (r, i) => `| ${i === 0 ? "`--compile --format=esm` (no minify, no bytecode)" : "`--compile --minify --bytecode --format=esm` (shipped)"} | ${ms(r.median)} ms | ${ms(r.min)} ms | ${ms(r.max)} ms | ${await size(i === 0 ? plain : bytecode)} MiB |`)),
  "", `Ratio bytecode/plain (medians): ${(results[1]!.median / results[0]!.median).toFixed(2)}`].join("\n"));
