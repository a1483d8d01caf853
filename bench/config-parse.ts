/**
 * Parse cost of hostile config shapes: wall time of parseConfigText / loadServicesFile and the
 * process's anonymous memory (smaps_rollup "Anonymous", not RSS) after each shape.
 * Run: node_modules/.bin/bun bench/config-parse.ts [shape ...]
 * Each shape runs in its own child process so memory figures do not mix.
 */
import { readFileSync } from "node:fs";
import { parseConfigText, loadServicesFile } from "../src/config/load.ts";

const HEAD = "server: { port: 1338 }\naws_defaults: { region: us-east-1 }\nservices:\n  app:\n    auth_token: tok-0123456789\n    assumed_role: { RoleArn: 'arn:aws:iam::123456789012:role/r' }\n";

export const SHAPES: Record<string, () => string> = {
  "deep-flow-map-15k": () => `${HEAD}x-deep: ${"{a: ".repeat(3000)}1${"}".repeat(3000)}\n`,
  "deep-flow-seq-15k": () => `${HEAD}x-deep: ${"[".repeat(7500)}${"]".repeat(7500)}\n`,
  "deep-block-map": () => `${HEAD}x-deep:\n${Array.from({ length: 600 }, (_, i) => `${" ".repeat(i + 1)}a:`).join("\n")} 1\n`,
  "wide-map-15k": () => `${HEAD}x-wide: {${Array.from({ length: 2500 }, (_, i) => `k${i}: 1`).join(", ")}}\n`,
  "wide-map-35k": () => `${HEAD}x-wide: {${Array.from({ length: 5000 }, (_, i) => `k${i}: 1`).join(", ")}}\n`,
  "services-9999-nodes": () => `services:\n${Array.from({ length: 1100 }, (_, i) => `  s${i}:\n    auth_token: tok-${i}-0123456789\n    assumed_role: { RoleArn: 'arn:aws:iam::123456789012:role/r' }`).join("\n")}\n`,
  "wide-block-map-256k": () => `${HEAD}x-wide:\n${Array.from({ length: 25000 }, (_, i) => `  k${i}: 1`).join("\n")}\n`,
  // The worst a dynamic file can be within its caps (64 KiB, 5,000 nodes, depth 32).
  "dyn-cap-services": () => `services:\n${Array.from({ length: 600 }, (_, i) => `  s${i}:\n    auth_token: tok-${i}-0123456789\n    assumed_role: { RoleArn: 'arn:aws:iam::123456789012:role/r' }`).join("\n")}\n`,
  "dyn-cap-wide": () => `${HEAD}x-wide: {${Array.from({ length: 2480 }, (_, i) => `k${i}: 1`).join(", ")}}\n`,
  "dyn-cap-deep": () => `${HEAD}${Array.from({ length: 150 }, (_, i) => `x-d${i}: ${"{a: ".repeat(30)}1${"}".repeat(30)}`).join("\n")}\n`,
  "aliases": () => `${HEAD}x-a: &a [${"x,".repeat(99)}x]\nx-b: &b [${"*a,".repeat(99)}*a]\nx-c: [${"*b,".repeat(99)}*b]\n`,
  "long-line-1m": () => `${HEAD}x-long: "${"x".repeat(1_000_000)}"\n`,
};

function anonymousKiB(): number {
  const m = /Anonymous:\s+(\d+) kB/.exec(readFileSync("/proc/self/smaps_rollup", "utf8"));
  return m ? Number(m[1]) : NaN;
}

async function runOne(name: string, mode: string): Promise<void> {
  const text = SHAPES[name]!();
  // Warm up the parser and validators on a valid config, so the figure is the shape's own cost.
  for (let i = 0; i < 20; i++) parseConfigText(HEAD, "warm.yaml", { env: {} });
  const before = anonymousKiB();
  const t0 = performance.now();
  let outcome = "ok";
  try {
    if (mode === "dynamic") loadServicesFile("/d/x.yaml", text.replace(/^server:.*\naws_defaults:.*\n/, ""), { region: "us-east-1" }, { env: {} });
    else parseConfigText(text, "config.yaml", { env: {} });
  } catch (error) {
    outcome = (error as Error).message.slice(0, 110);
  }
  const ms = performance.now() - t0;
  console.log(`${mode.padEnd(7)} ${name.padEnd(20)} ${String(text.length).padStart(8)} B ${ms.toFixed(1).padStart(9)} ms  anon +${((anonymousKiB() - before) / 1024).toFixed(0)} MiB  ${outcome}`);
}

if (process.argv[2] === "--one") await runOne(process.argv[3]!, process.argv[4]!);
else {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(SHAPES);
  for (const mode of ["config", "dynamic"]) for (const name of names) {
    const child = Bun.spawn([process.execPath, import.meta.path, "--one", name, mode], { stdout: "inherit", stderr: "inherit" });
    const timer = setTimeout(() => child.kill(), 120_000);
    await child.exited;
    clearTimeout(timer);
    if (child.signalCode) console.log(`${mode.padEnd(7)} ${name.padEnd(20)} killed after 120 s`);
  }
}
