/**
 * Compiles credproxy into one executable for the host at dist/credproxy.
 *
 * The version comes from package.json and the git commit from `git rev-parse`; both are
 * embedded with `define` so `credproxy --version` needs no files at run time.
 * `--minify --bytecode --format=esm` gives the fastest start-up (see docs/BENCHMARKS.md).
 */
import { $ } from "bun";
import pkg from "./package.json" with { type: "json" };
import { GENERATED_VALIDATORS, validatorSource } from "./src/config/compile-validators.ts";

async function gitCommit(): Promise<string> {
  const out = await $`git rev-parse --short=12 HEAD`.quiet().nothrow();
  return out.exitCode === 0 ? out.stdout.toString().trim() : "unknown";
}

export async function compile(options: { outfile: string; target?: string; bytecode?: boolean }): Promise<void> {
  const started = performance.now();
  const result = await Bun.build({
    entrypoints: ["./src/main.ts"],
    compile: {
      outfile: options.outfile,
      ...(options.target ? { target: options.target as Bun.Build.CompileTarget } : {}),
      // A credential tool must not pick up .env or bunfig.toml from whatever directory it runs
      // in: a stray AWS_ENDPOINT_URL_STS or CREDPROXY_CONFIG_FILE would silently redirect it.
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    minify: true,
    bytecode: options.bytecode ?? true,
    format: "esm",
    sourcemap: "none",
    define: {
      CREDPROXY_VERSION: JSON.stringify(pkg.version),
      CREDPROXY_COMMIT: JSON.stringify(await gitCommit()),
    },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    throw new Error(`build of ${options.outfile} failed`);
  }
  const ms = Math.round(performance.now() - started);
  console.error(`built ${options.outfile} (${pkg.version}) in ${ms} ms`);
}

if (import.meta.main) {
  // The config validators are generated ahead of time so the binary does not compile the
  // JSON Schema at start-up.
  await Bun.write(GENERATED_VALIDATORS, validatorSource());
  await compile({ outfile: "dist/credproxy" });
}
