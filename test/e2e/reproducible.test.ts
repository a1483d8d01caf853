/**
 * Reproducible releases: two clean clones of the commit under test, in different directories,
 * each `npm ci` and `npm run release` with SOURCE_DATE_EPOCH unset (so the commit's own time
 * dates everything). Every file in dist/release (binaries, SBOM, SHA256SUMS), dist/npm (the
 * tarballs) and dist/scratch (the image's root file system, mtimes included) must have the
 * same SHA-256 in both, and the FROM-scratch images buildah builds from each clone must have
 * the same layers and image IDs for both architectures (where buildah is installed).
 *
 * What is built is HEAD when the test starts: uncommitted changes of a working tree are not
 * part of the check.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { REPO_ROOT, tempDir } from "../helpers/binary.ts";
import { trackChild } from "../helpers/cleanup.ts";

const SEARCH_PATH = `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/local/sbin:/usr/sbin:/sbin`;
const BUILDAH = Bun.which("buildah", { PATH: SEARCH_PATH });
const CROSS_LIBC = "/usr/aarch64-linux-gnu/lib/libc.so.6"; // libc6-arm64-cross, for the arm64 image
const IMAGES = process.platform === "linux" && process.arch === "x64" && process.getuid?.() === 0 && BUILDAH !== null && Bun.file(CROSS_LIBC).size > 0;
if (!IMAGES) {
  const reason = "needs root on Linux x64 with buildah and libc6-arm64-cross";
  if (process.env.CI && process.platform === "linux") throw new Error(`reproducible images: CI must provide what the image test needs (${reason})`);
  console.warn(`SKIP: reproducible image layers: ${reason}`);
}

interface Clone {
  readonly dir: string;
  /** Path (relative to the clone) → sha256 hex, or "link → target" for a symlink, plus the mtime of every entry in dist/scratch. */
  readonly files: Map<string, string>;
  /** arch → image ID and layer diff IDs, when images are built. */
  readonly images: Map<string, { id: string; layers: string[] }>;
}

async function run(argv: string[], cwd: string, env: Record<string, string>, timeoutMs = 600_000): Promise<string> {
  const proc = Bun.spawn(argv, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
  trackChild(proc);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if ((await proc.exited) !== 0) throw new Error(`${argv.join(" ")} (in ${cwd}) exited ${proc.exitCode}\n${stderr.slice(-4000)}${stdout.slice(-2000)}`);
  return stdout + stderr;
}

function sha256(path: string): string {
  return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
}

/** Every file under root, keyed by its path relative to base; mtimes too when asked. */
function hashTree(root: string, base: string, into: Map<string, string>, withTimes: boolean): void {
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    const key = relative(base, path);
    const stat = lstatSync(path);
    if (withTimes) into.set(`${key} (mtime)`, String(stat.mtimeMs));
    if (entry.isSymbolicLink()) into.set(key, `link → ${readlinkSync(path)}`);
    else if (entry.isDirectory()) hashTree(path, base, into, withTimes);
    else into.set(key, sha256(path));
  }
}

/** The image IDs and layers of the two platform images built from one clone's dist/release. */
async function buildImages(clone: string, env: Record<string, string>): Promise<Clone["images"]> {
  const store = ["--root", join(clone, ".image", "storage"), "--runroot", join(clone, ".image", "run"), "--storage-driver", "vfs"];
  await mkdir(join(clone, ".image", "tmp"), { recursive: true });
  const imageEnv = { ...env, TMPDIR: join(clone, ".image", "tmp"), LC_ALL: "C", BUILDAH_ISOLATION: "chroot", BUILDAH_ARGS: store.join(" ") };
  const log = await run([join(clone, "node_modules/.bin/bun"), "release/build-image.ts", "--source", "https://example.invalid/credproxy", "--work-dir", join(clone, ".image", "ctx")], clone, imageEnv);
  const images: Clone["images"] = new Map();
  for (const [, name, arch, id] of log.matchAll(/^built (\S+) \(linux\/(\w+)\) ([0-9a-f]{64})$/gm)) {
    const inspect = JSON.parse(await run([BUILDAH!, ...store, "inspect", "--type", "image", name!], clone, imageEnv)) as { OCIv1: { rootfs: { diff_ids: string[] } } };
    images.set(arch!, { id: id!, layers: inspect.OCIv1.rootfs.diff_ids });
  }
  return images;
}

/** The commit both clones build, fixed once: HEAD may move while the first build runs. */
const COMMIT = Bun.spawnSync(["git", "rev-parse", "HEAD"], { cwd: REPO_ROOT }).stdout.toString().trim();

async function cleanBuild(parent: string, name: string): Promise<Clone> {
  const dir = join(parent, name);
  const env: Record<string, string> = { PATH: SEARCH_PATH, HOME: process.env.HOME ?? parent, LANG: "C.UTF-8", npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" };
  await run(["git", "clone", "--quiet", "--no-local", "--no-hardlinks", REPO_ROOT, dir], parent, env);
  await run(["git", "checkout", "--quiet", "--detach", COMMIT], dir, env);
  await run(["npm", "ci", "--prefer-offline"], dir, env);
  await run(["npm", "run", "release"], dir, env);
  const files = new Map<string, string>();
  hashTree(join(dir, "dist", "release"), dir, files, false);
  hashTree(join(dir, "dist", "npm"), dir, files, false);
  if (process.platform === "linux") hashTree(join(dir, "dist", "scratch"), dir, files, true);
  const images = IMAGES ? await buildImages(dir, env) : new Map();
  return { dir, files, images };
}

describe("two clean builds of one commit", () => {
  let first: Clone;
  let second: Clone;

  let parent = "";

  beforeAll(async () => {
    parent = await tempDir("credproxy-reproducible-");
    // One after the other: two parallel bun compiles on two cores would only take longer.
    first = await cleanBuild(parent, "first");
    second = await cleanBuild(parent, "elsewhere/second");
  }, 1_200_000);

  // Two clones with node_modules and buildah stores: more than the shared clean-up's few seconds.
  afterAll(async () => {
    if (parent) await run(["rm", "-rf", parent], "/", { PATH: SEARCH_PATH }, 300_000);
  }, 300_000);

  test("give byte-identical release binaries, SBOM, SHA256SUMS and npm tarballs", () => {
    const artefacts = (c: Clone) => [...c.files].filter(([k]) => k.startsWith("dist/release/") || k.startsWith("dist/npm/"));
    const names = artefacts(first).map(([k]) => k);
    for (const wanted of ["dist/release/credproxy-linux-x64", "dist/release/credproxy-darwin-arm64", "dist/release/credproxy.cdx.json", "dist/release/SHA256SUMS", "dist/npm/SHA256SUMS"]) expect(names).toContain(wanted);
    expect(names.filter((n) => n.endsWith(".tgz")).length).toBe(5);
    for (const [path, hash] of artefacts(first)) console.log(`${hash.slice(0, 16)}  ${path}`);
    expect(artefacts(second)).toEqual(artefacts(first));
  });

  test.skipIf(process.platform !== "linux")("give the same dist/scratch, file for file and mtime for mtime", () => {
    const scratch = (c: Clone) => [...c.files].filter(([k]) => k.startsWith("dist/scratch/"));
    expect(scratch(first).length).toBeGreaterThan(2);
    expect(scratch(first).some(([k]) => k === "dist/scratch/usr/local/bin/credproxy")).toBe(true);
    expect(scratch(second)).toEqual(scratch(first));
  });

  test.skipIf(!IMAGES)("give images with the same layers and image IDs for amd64 and arm64", () => {
    expect([...first.images.keys()].sort()).toEqual(["amd64", "arm64"]);
    for (const [arch, image] of first.images) console.log(`linux/${arch}: image ${image.id.slice(0, 16)}, layers ${image.layers.map((l) => l.slice(7, 23)).join(" ")}`);
    expect([...second.images]).toEqual([...first.images]);
  });
});
