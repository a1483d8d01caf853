/**
 * What the npm launcher adds to `credproxy --version`: the binary run directly against the same
 * binary run through the launcher (release/npm/credproxy-launcher.sh) in the layout
 * `npm install -g` makes (prefix/bin/credproxy → lib/node_modules/credproxy/bin/credproxy, the
 * platform package nested under its node_modules/@credproxy/). The packages are packed by
 * build.ts's npmRelease from dist/credproxy, for this machine's platform only; the e2e test
 * test/e2e/npm-package.test.ts proves real npm produces that layout. Both commands run in the
 * same hyperfine run (Debian package), so the difference of the medians is the launcher's cost.
 */
import { copyFile, mkdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { npmRelease } from "../build.ts";

const host = `${process.platform}-${process.arch}`;
const root = join(import.meta.dir, "..");
const dir = join(root, ".bench", "npm-launcher");
await rm(dir, { recursive: true, force: true });
await mkdir(join(dir, "release"), { recursive: true });
await copyFile(join(root, "dist", "credproxy"), join(dir, "release", `credproxy-${host}`));
const [launcher, platform] = await npmRelease(join(dir, "release"), join(dir, "npm"), [host]);

const pkg = join(dir, "prefix", "lib", "node_modules", "credproxy");
const nested = join(pkg, "node_modules", "@credproxy", host);
for (const [tarball, into] of [[launcher!.tarball, pkg], [platform!.tarball, nested]] as const) {
  await mkdir(into, { recursive: true });
  const untar = Bun.spawnSync(["tar", "-xzf", tarball, "-C", into, "--strip-components=1"]);
  if (untar.exitCode !== 0) throw new Error(`tar -xzf ${tarball}: ${untar.stderr}`);
}
await mkdir(join(dir, "prefix", "bin"));
await symlink("../lib/node_modules/credproxy/bin/credproxy", join(dir, "prefix", "bin", "credproxy"));

const direct = join(nested, "bin", "credproxy");
const viaLauncher = join(dir, "prefix", "bin", "credproxy");
type Result = { median: number; min: number; max: number };
const hyperfine = async (commands: string[], name: string): Promise<Result[]> => {
  const json = join(dir, `${name}.json`);
  const run = Bun.spawnSync(["hyperfine", "-N", "--warmup", "5", "--runs", "60", "--export-json", json, ...commands], { stderr: "inherit" });
  if (run.exitCode !== 0) throw new Error("hyperfine failed (apt-get install hyperfine)");
  return ((await Bun.file(json).json()) as { results: Result[] }).results;
};
const [a, b] = await hyperfine([`${direct} --version`, `${viaLauncher} --version`], "credproxy");
// The launcher's own work (uname twice, the symlink walk, the package lookup) against a binary
// that does nothing, so the ~30 ms of credproxy's start-up and its noise are out of the way.
await copyFile("/bin/true", direct);
const [t, l] = await hyperfine([`${direct}`, `${viaLauncher}`], "true");
const ms = (s: number) => (s * 1000).toFixed(1);
const row = (what: string, r: Result) => `| ${what} | ${ms(r.median)} ms | ${ms(r.min)} ms | ${ms(r.max)} ms |`;
console.log(
  [
    "| command | median | min | max |",
    "|---|---|---|---|",
    row("`credproxy --version`, the binary directly", a!),
    row("`credproxy --version` through the npm launcher", b!),
    row("`/bin/true` as the platform binary, directly", t!),
    row("`/bin/true` as the platform binary, through the launcher", l!),
    "",
    `The launcher adds ${ms(b!.median - a!.median)} ms to --version (difference of the medians), and its own work is ${ms(l!.median - t!.median)} ms (goal: < 20 ms).`,
  ].join("\n"),
);
