/**
 * `bun build.ts` compiles credproxy into one executable for the host at dist/credproxy, and
 * writes its man page (`credproxy man`) to dist/credproxy.1.
 * `bun build.ts release` (npm run release) cross-compiles every release target into
 * dist/release/ with a CycloneDX SBOM of the bundled dependencies (credproxy.cdx.json, from
 * `npm sbom`, see release/sbom.ts) and a SHA256SUMS file covering both, packs the npm
 * packages into dist/npm/ (the credproxy
 * launcher and @credproxy/<os>-<cpu>, see release/npm/npm-packages.ts), and on Linux lays out
 * dist/scratch/, the root file system Dockerfile.scratch copies (binary + the shared
 * libraries ldd finds, nothing else). Bun fetches the runtime of each other target from the
 * npm registry (@oven/bun-<os>-<cpu>) on first use.
 *
 * The version comes from package.json, the git commit from `git rev-parse` and the build date
 * from SOURCE_DATE_EPOCH, else the commit's time (else now, outside a git checkout); all are
 * embedded with `define` so `credproxy --version` needs no files at run time. Nothing else
 * varies between builds of one commit: the release binaries, npm tarballs, SBOM, SHA256SUMS and
 * dist/scratch (its mtimes set to the build date) come out byte for byte the same
 * (test/e2e/reproducible.test.ts builds twice and compares).
 * `--minify --bytecode --format=esm` gives the fastest start-up (see docs/BENCHMARKS.md).
 */
import { $ } from "bun";
import { mkdir, readdir, rm } from "node:fs/promises";
import { npmPackages, type NpmPackage } from "./release/npm/npm-packages.ts";
import { prepareScratchContext } from "./release/scratch-context.ts";
import { cycloneDxSbom } from "./release/sbom.ts";
import { setTreeMtime } from "./release/set-tree-mtime.ts";
import { silenceDebugEnv } from "./release/silence-debug-env.ts";
import { sourceDate } from "./release/source-date.ts";
import pkg from "./package.json" with { type: "json" };
import { GENERATED_VALIDATORS, validatorSource } from "./src/config/compile-validators.ts";

async function gitCommit(): Promise<string> {
  const out = await $`git rev-parse --short=12 HEAD`.quiet().nothrow();
  return out.exitCode === 0 ? out.stdout.toString().trim() : "unknown";
}

export async function compile(options: { outfile: string; target?: string; bytecode?: boolean; minify?: boolean }): Promise<void> {
  const started = performance.now();
  const result = await Bun.build({
    // Workers are further entry points: the parser of dynamic service files
    // (src/serve/services-file-worker.ts) and the TUN packet reader (src/net/tun-device-linux.ts).
    entrypoints: ["./src/main.ts", "./src/serve/parse-worker.ts", "./src/net/tun-device-reader.ts"],
    compile: {
      outfile: options.outfile,
      ...(options.target ? { target: options.target as Bun.Build.CompileTarget } : {}),
      // A credential tool must not pick up .env or bunfig.toml from whatever directory it runs
      // in: a stray AWS_ENDPOINT_URL_STS or CREDPROXY_CONFIG_FILE would silently redirect it.
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    minify: options.minify ?? true,
    bytecode: options.bytecode ?? true,
    format: "esm",
    sourcemap: "none",
    // yaml prints every parsed token (secrets included) when LOG_TOKENS or LOG_STREAM is set.
    plugins: [silenceDebugEnv],
    define: {
      CREDPROXY_VERSION: JSON.stringify(pkg.version),
      CREDPROXY_COMMIT: JSON.stringify(await gitCommit()),
      CREDPROXY_BUILD_DATE: JSON.stringify(sourceDate()),
    },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    throw new Error(`build of ${options.outfile} failed`);
  }
  const ms = Math.round(performance.now() - started);
  console.error(`built ${options.outfile} (${pkg.version}) in ${ms} ms`);
}

/** Release targets: Bun's compile target → the file name suffix users download. */
export const RELEASE_TARGETS = {
  "bun-linux-x64": "linux-x64",
  "bun-linux-arm64": "linux-arm64",
  "bun-darwin-x64": "darwin-x64",
  "bun-darwin-arm64": "darwin-arm64",
} as const;

/** The CycloneDX SBOM's file name in the release directory. */
export const SBOM_FILE = "credproxy.cdx.json";

export async function release(outDir = "dist/release", scratchDir = "dist/scratch"): Promise<string[]> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const date = sourceDate();
  const names: string[] = [];
  for (const [target, suffix] of Object.entries(RELEASE_TARGETS)) {
    const name = `credproxy-${suffix}`;
    // Never strip these: stripping deletes the embedded program (see docs/BENCHMARKS.md).
    await compile({ outfile: `${outDir}/${name}`, target });
    names.push(name);
  }
  await Bun.write(`${outDir}/${SBOM_FILE}`, await cycloneDxSbom({ root: import.meta.dir, name: pkg.name, date }));
  console.error(`wrote ${outDir}/${SBOM_FILE} (npm sbom, runtime dependencies only)`);
  await writeSha256Sums(outDir);
  const host = `${process.platform}-${process.arch}`;
  if (process.platform === "linux" && names.includes(`credproxy-${host}`)) {
    await rm(scratchDir, { recursive: true, force: true });
    const context = await prepareScratchContext(`${outDir}/credproxy-${host}`, scratchDir);
    await setTreeMtime(scratchDir, new Date(date));
    console.error(`laid out ${scratchDir} for Dockerfile.scratch (${context.files.length} files, dated ${date})`);
  }
  return names;
}

/** SHA256SUMS (the `sha256sum -c` format) of every other file in dir, sorted by name. */
async function writeSha256Sums(dir: string): Promise<void> {
  const files = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && e.name !== "SHA256SUMS").map((e) => e.name).sort();
  const lines = await Promise.all(files.map(async (n) => `${sha256(await Bun.file(`${dir}/${n}`).bytes())}  ${n}\n`));
  await Bun.write(`${dir}/SHA256SUMS`, lines.join(""));
  console.error(`wrote ${dir}/SHA256SUMS (${files.length} files)`);
}

/** The npm packages from the release binaries in releaseDir; the man page comes from the host's binary. */
export async function npmRelease(releaseDir = "dist/release", outDir = "dist/npm", platforms: readonly string[] = Object.values(RELEASE_TARGETS)): Promise<NpmPackage[]> {
  const host = `${process.platform}-${process.arch}`;
  const manPage = await $`${`${releaseDir}/credproxy-${host}`} man`.text();
  const packages = await npmPackages({ releaseDir, outDir, platforms, version: pkg.version, description: pkg.description, license: pkg.license, manPage, root: import.meta.dir });
  for (const p of packages) console.error(`packed ${p.name} into ${p.tarball}`);
  // The tarballs' own checksums; what npm publishes is checked by the registry's integrity field.
  await writeSha256Sums(outDir);
  return packages;
}

function sha256(data: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

if (import.meta.main) {
  // The config validators are generated ahead of time so the binary does not compile the
  // JSON Schema at start-up.
  await Bun.write(GENERATED_VALIDATORS, validatorSource());
  if (process.argv[2] === "release") {
    await release();
    await npmRelease();
  }
  else {
    await compile({ outfile: "dist/credproxy" });
    // The man page the npm package installs, from the help of the binary just built.
    await Bun.write("dist/credproxy.1", await $`./dist/credproxy man`.text());
  }
}
