/**
 * The npm packages, proven with a real registry: Verdaccio on loopback (no uplinks) gets the
 * launcher and the four platform packages published; then, in a clean prefix and cache,
 * `npm install -g credproxy` and `npx credproxy` run the binary, only this machine's platform
 * package is installed, and the man page lands in share/man.
 * What the launcher adds to start-up is measured by bench/npm-launcher.bench.ts, not asserted here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { compile, npmRelease, RELEASE_TARGETS } from "../../build.ts";
import pkg from "../../package.json" with { type: "json" };
import type { NpmPackage } from "../../release/npm/npm-packages.ts";
import { tempDir } from "../helpers/binary.ts";
import { startVerdaccio, verdaccioInstalled, type Verdaccio } from "../helpers/verdaccio.ts";

const HOST = `${process.platform}-${process.arch}`;
const OTHER_CPU = `${process.platform}-${process.arch === "x64" ? "arm64" : "x64"}`;

const ready = verdaccioInstalled();
if (!ready) {
  if (process.env.CI) throw new Error("test/fixtures/verdaccio is not installed in CI (.ci/run runs npm ci --prefix test/fixtures/verdaccio)");
  console.warn("SKIP: npm package test: Verdaccio is not installed (npm ci --prefix test/fixtures/verdaccio)");
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe.skipIf(!ready)("the npm packages through a real registry", () => {
  let registry: Verdaccio;
  let packages: NpmPackage[];
  let home: string;
  /** npm with its own cache, user config and registry, so nothing of the host's npm set-up is used. */
  let npmEnv: Record<string, string>;
  const prefix = () => join(home, "prefix");

  const run = (argv: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Run => {
    const r = Bun.spawnSync(argv, { cwd: options.cwd ?? home, env: { ...npmEnv, ...options.env }, stdout: "pipe", stderr: "pipe" });
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  const npm = (args: string[], cwd?: string): Run => run(["npm", ...args], cwd ? { cwd } : {});

  beforeAll(async () => {
    const dir = await tempDir("credproxy-npm-");
    const releaseDir = join(dir, "release");
    await mkdir(releaseDir);
    for (const [target, suffix] of Object.entries(RELEASE_TARGETS)) await compile({ outfile: join(releaseDir, `credproxy-${suffix}`), target });
    packages = await npmRelease(releaseDir, join(dir, "npm"));
    registry = await startVerdaccio();
    home = join(dir, "home");
    await mkdir(home);
    npmEnv = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      npm_config_userconfig: registry.npmrc,
      npm_config_globalconfig: join(home, "no-global-npmrc"),
      npm_config_cache: join(home, "npm-cache"),
      npm_config_registry: registry.url,
      npm_config_update_notifier: "false",
      npm_config_audit: "false",
      npm_config_fund: "false",
    };
    for (const p of packages.slice(1)) expect(npm(["publish", p.tarball]).stderr).not.toContain("ERR!");
    // The launcher last, once every dependency it names exists.
    const launcher = npm(["publish", packages[0]!.tarball]);
    expect(launcher.stderr).not.toContain("ERR!");
  }, 240_000);

  afterAll(async () => {
    await registry?.stop();
  });

  test("npm run release packs the launcher and one package per platform, each platform package holding only its binary", async () => {
    expect(packages.map((p) => p.name)).toEqual(["credproxy", ...Object.values(RELEASE_TARGETS).map((s) => `@credproxy/${s}`)]);
    const listing = (tarball: string) => run(["tar", "-tzf", tarball]).stdout.trim().split("\n").sort();
    expect(listing(packages[0]!.tarball)).toEqual(["package/CHANGELOG.md", "package/LICENSE", "package/README.md", "package/bin/credproxy", "package/man/credproxy.1", "package/package.json"]);
    for (const p of packages.slice(1)) expect(listing(p.tarball)).toEqual(["package/LICENSE", "package/README.md", "package/bin/credproxy", "package/package.json"]);
    const view = JSON.parse(npm(["view", `@credproxy/${HOST}@${pkg.version}`, "--json"]).stdout) as { os: string[]; cpu: string[] };
    expect(view.os).toEqual([process.platform]);
    expect(view.cpu).toEqual([process.arch]);
  });

  test("npm install -g credproxy in a clean prefix installs the launcher, this platform's package only, and the man page", async () => {
    const r = npm(["install", "-g", "--prefix", prefix(), `credproxy@${pkg.version}`]);
    expect(r.stderr).not.toContain("ERR!");
    expect(r.code).toBe(0);
    const version = run([join(prefix(), "bin", "credproxy"), "--version", "--json"]);
    expect(version.stderr).toBe("");
    expect(JSON.parse(version.stdout)).toMatchObject({ version: pkg.version, platform: HOST });
    const scoped = join(prefix(), "lib", "node_modules", "credproxy", "node_modules", "@credproxy");
    expect(await readdir(scoped)).toEqual([HOST]);
    expect(await readdir(scoped)).not.toContain(OTHER_CPU);
    const man = run(["man", "-l", join(prefix(), "share", "man", "man1", "credproxy.1")], { env: { MANPAGER: "cat", MANWIDTH: "100" } });
    expect(man.stdout).toContain("credproxy broker exec");
  }, 120_000);

  test("npx credproxy --version runs the binary from a fresh npx cache", async () => {
    const cwd = join(home, "project");
    await mkdir(cwd, { recursive: true });
    const r = run(["npx", "--yes", `credproxy@${pkg.version}`, "--version"], { cwd });
    expect(r.stderr).not.toContain("ERR!");
    expect(r.stdout).toMatch(new RegExp(`^credproxy ${pkg.version.replaceAll(".", "\\.")} \\(commit [0-9a-f]{12}\\)\\n$`));
    expect(r.code).toBe(0);
  }, 120_000);

  test("on a platform without a build the launcher says what to do, and CREDPROXY_BINARY_PATH runs one's own", async () => {
    // A uname that reports another system stands in for a machine without a build.
    const bin = join(home, "fake-uname");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "uname"), `#!/bin/sh\ncase $1 in -s) echo FreeBSD ;; -m) echo riscv64 ;; esac\n`);
    await chmod(join(bin, "uname"), 0o755);
    const other = run([join(prefix(), "bin", "credproxy"), "--version"], { env: { PATH: `${bin}:${npmEnv.PATH}` } });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`there is no build for FreeBSD-riscv64; builds exist for: ${Object.values(RELEASE_TARGETS).join(" ")}`);
    // CREDPROXY_BINARY_PATH points it at a binary of one's own.
    const own = run([join(prefix(), "bin", "credproxy"), "--version"], { env: { PATH: `${bin}:${npmEnv.PATH}`, CREDPROXY_BINARY_PATH: join(prefix(), "lib", "node_modules", "credproxy", "node_modules", "@credproxy", HOST, "bin", "credproxy") } });
    expect(own.stdout).toStartWith(`credproxy ${pkg.version} `);
  }, 120_000);
});
