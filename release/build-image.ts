/**
 * The multi-arch FROM-scratch image: Dockerfile.scratch built once per platform with buildah
 * (COPY only, no RUN, so the arm64 image needs no emulation), combined into one manifest list,
 * and optionally pushed with every platform image (`buildah manifest push --all`), reporting
 * the list's digest so users pin `credproxy@sha256:…`.
 *
 *   linux/amd64   dist/release/credproxy-linux-x64 (libraries from this machine, via ldd,
 *                 when it is x86_64; else from /usr/x86_64-linux-gnu/lib, libc6-amd64-cross)
 *   linux/arm64   dist/release/credproxy-linux-arm64 (libraries from /usr/aarch64-linux-gnu/lib,
 *                 Debian's and Ubuntu's libc6-arm64-cross, when this machine is not arm64)
 *
 * Labels (OCI annotation keys): org.opencontainers.image.source, .revision (the full git
 * commit), .version (package.json), .licenses (package.json, MPL-2.0), .created. The created
 * time, the image config's created field and every file's mtime in the layers (buildah
 * --timestamp) all come from SOURCE_DATE_EPOCH, else the commit's time, so two builds of one
 * commit give the same layer, config and manifest digests.
 *
 * Usage: bun release/build-image.ts --source URL [--release-dir dist/release] [--tag NAME]
 *          [--push docker://REGISTRY/REPO:TAG] [--digestfile FILE] [--tls-verify=false]
 * (buildah's own store; add --root/--runroot/--storage-driver through BUILDAH_ARGS if needed.)
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prepareScratchContext } from "./scratch-context.ts";
import { sourceEpoch } from "./source-date.ts";

export const IMAGE_PLATFORMS = {
  amd64: { binary: "credproxy-linux-x64", nodeArch: "x64", cross: { from: "/usr/x86_64-linux-gnu/lib", to: "lib/x86_64-linux-gnu" } },
  arm64: { binary: "credproxy-linux-arm64", nodeArch: "arm64", cross: { from: "/usr/aarch64-linux-gnu/lib", to: "lib/aarch64-linux-gnu" } },
} as const;
export type ImageArch = keyof typeof IMAGE_PLATFORMS;

const REPO_ROOT = join(import.meta.dir, "..");

export interface ImageLabels {
  "org.opencontainers.image.source": string;
  "org.opencontainers.image.revision": string;
  "org.opencontainers.image.version": string;
  "org.opencontainers.image.licenses": string;
  "org.opencontainers.image.created": string;
}

export interface BuildImageOptions {
  /** buildah and its global flags (e.g. ["buildah", "--root", …, "--storage-driver", "vfs"]). */
  buildah: string[];
  /** Directory with the release binaries (credproxy-linux-x64, credproxy-linux-arm64). */
  releaseDir: string;
  /** Scratch directory for the per-platform build contexts. */
  workDir: string;
  /** Local name of the manifest list; each platform image is NAME-ARCH. */
  name: string;
  /** Repository URL for org.opencontainers.image.source. */
  source: string;
  archs?: readonly ImageArch[];
  env?: Record<string, string>;
}

export interface BuiltImage {
  list: string;
  epoch: number;
  labels: ImageLabels;
  images: { arch: ImageArch; name: string; id: string; contextFiles: string[] }[];
}

function run(cmd: string[], env?: Record<string, string>): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", env: env ?? process.env, cwd: REPO_ROOT, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`cannot run ${cmd[0]}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} exited ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function imageLabels(source: string, epoch: number): ImageLabels {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string; license: string };
  return {
    "org.opencontainers.image.source": source,
    "org.opencontainers.image.revision": run(["git", "rev-parse", "HEAD"]).trim(),
    "org.opencontainers.image.version": pkg.version,
    "org.opencontainers.image.licenses": pkg.license,
    "org.opencontainers.image.created": new Date(epoch * 1000).toISOString().replace(/\.000Z$/, "Z"),
  };
}

/** Lays out <workDir>/<arch>/ like the repo after `npm run release`: dist/scratch/, Dockerfile.scratch, .dockerignore. */
export async function imageContext(releaseDir: string, arch: ImageArch, workDir: string): Promise<{ dir: string; files: string[] }> {
  const platform = IMAGE_PLATFORMS[arch];
  const dir = join(workDir, arch);
  const native = process.arch === platform.nodeArch;
  const { files } = await prepareScratchContext(join(releaseDir, platform.binary), join(dir, "dist", "scratch"), native ? {} : { foreignLibraries: platform.cross });
  for (const f of ["Dockerfile.scratch", ".dockerignore"]) copyFileSync(join(REPO_ROOT, f), join(dir, f));
  return { dir, files };
}

export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const archs = options.archs ?? (Object.keys(IMAGE_PLATFORMS) as ImageArch[]);
  const epoch = sourceEpoch(options.env);
  const labels = imageLabels(options.source, epoch);
  const b = options.buildah;
  mkdirSync(options.workDir, { recursive: true });
  const images: BuiltImage["images"] = [];
  for (const arch of archs) {
    const ctx = await imageContext(options.releaseDir, arch, options.workDir);
    const name = `${options.name}-${arch}`;
    run(
      [
        ...b,
        "bud",
        "--quiet",
        "--pull=never",
        // docker format: the image keeps its HEALTHCHECK (OCI image configs have no such field)
        "--format",
        "docker",
        "--platform",
        `linux/${arch}`,
        "--timestamp",
        String(epoch),
        // buildah's own io.buildah.version label would tie the digest to the buildah release
        "--identity-label=false",
        ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
        "-f",
        "Dockerfile.scratch",
        "-t",
        name,
        ctx.dir,
      ],
      options.env,
    );
    const id = withoutBuildContainer(b, name, join(options.workDir, `${arch}.dir`), options.env);
    images.push({ arch, name, id, contextFiles: ctx.files });
  }
  spawnSync(b[0]!, [...b.slice(1), "manifest", "rm", options.name], { env: options.env ?? process.env });
  run([...b, "manifest", "create", options.name], options.env);
  for (const image of images) run([...b, "manifest", "add", "--os", "linux", "--arch", image.arch, options.name, `containers-storage:${image.name}`], options.env);
  return { list: options.name, epoch, labels, images };
}

/**
 * buildah 1.28 writes the throw-away build container's random ID and hostname into a Docker
 * format image config ("container", "Hostname"), so two identical builds differ in their config
 * digest and hence in every manifest digest. This round-trips the image through a dir: copy with
 * those fields blanked (nothing reads them) and returns the new image ID (the config digest).
 */
function withoutBuildContainer(buildah: string[], name: string, dir: string, env?: Record<string, string>): string {
  rmSync(dir, { recursive: true, force: true });
  run([...buildah, "push", "--quiet", "--format", "v2s2", name, `dir:${dir}`], env);
  const manifestPath = join(dir, "manifest.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { config: { digest: string; size: number } };
  const oldPath = join(dir, manifest.config.digest.replace(/^sha256:/, ""));
  const config = JSON.parse(readFileSync(oldPath, "utf8")) as { container?: string; config?: { Hostname?: string }; container_config?: { Hostname?: string } };
  delete config.container;
  if (config.config) config.config.Hostname = "";
  if (config.container_config) config.container_config.Hostname = "";
  const bytes = Buffer.from(JSON.stringify(config));
  const hex = createHash("sha256").update(bytes).digest("hex");
  rmSync(oldPath);
  writeFileSync(join(dir, hex), bytes);
  manifest.config.digest = `sha256:${hex}`;
  manifest.config.size = bytes.length;
  writeFileSync(manifestPath, JSON.stringify(manifest));
  run([...buildah, "rmi", "--force", name], env);
  run([...buildah, "pull", "--quiet", `dir:${dir}`], env);
  run([...buildah, "tag", hex, name], env);
  rmSync(dir, { recursive: true, force: true });
  return hex;
}

/** Pushes the list and every image in it; returns the list's digest (sha256:…). */
export function pushImage(buildah: string[], list: string, destination: string, options: { digestFile: string; tlsVerify?: boolean; env?: Record<string, string> }): string {
  run(
    [
      ...buildah,
      "manifest",
      "push",
      "--all",
      "--quiet",
      // keep the platform images in Docker v2s2 form (HEALTHCHECK) inside a Docker manifest list
      "--format",
      "v2s2",
      `--tls-verify=${options.tlsVerify ?? true}`,
      "--digestfile",
      options.digestFile,
      list,
      destination,
    ],
    options.env,
  );
  const digest = readFileSync(options.digestFile, "utf8").trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`buildah wrote no digest to ${options.digestFile}: ${JSON.stringify(digest)}`);
  return digest;
}

if (import.meta.main) {
  const { parseArgs } = await import("node:util");
  const { values } = parseArgs({
    options: {
      source: { type: "string" },
      "release-dir": { type: "string", default: "dist/release" },
      "work-dir": { type: "string", default: "dist/image" },
      name: { type: "string", default: "localhost/credproxy:build" },
      push: { type: "string" },
      digestfile: { type: "string", default: "dist/image/digest" },
      "tls-verify": { type: "string", default: "true" },
    },
  });
  const source = values.source ?? (process.env.GITHUB_REPOSITORY ? `${process.env.GITHUB_SERVER_URL ?? "https://github.com"}/${process.env.GITHUB_REPOSITORY}` : undefined);
  if (source === undefined) {
    console.error("build-image: --source URL is required (the repository, for org.opencontainers.image.source)");
    process.exit(2);
  }
  const buildah = ["buildah", ...(process.env.BUILDAH_ARGS ?? "").split(" ").filter(Boolean)];
  const built = await buildImage({ buildah, releaseDir: values["release-dir"]!, workDir: values["work-dir"]!, name: values.name!, source });
  for (const i of built.images) console.error(`built ${i.name} (linux/${i.arch}) ${i.id}`);
  if (values.push !== undefined) {
    const digest = pushImage(buildah, built.list, values.push, { digestFile: values.digestfile!, tlsVerify: values["tls-verify"] !== "false" });
    console.error(`pushed ${values.push} as ${digest}`);
    console.log(digest);
  }
}
