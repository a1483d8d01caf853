/**
 * The multi-arch image by digest, end to end without a Docker engine:
 *
 * 1. the linux-x64 and linux-arm64 binaries are compiled into a temp dir; release/build-image.ts
 *    builds Dockerfile.scratch for linux/amd64 and linux/arm64 (the arm64 libraries from
 *    libc6-arm64-cross) and combines them into one manifest list, twice, in two private
 *    buildah stores with one SOURCE_DATE_EPOCH: the layers must be byte-identical;
 * 2. a real registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1, storage in a
 *    temp dir, receives `buildah manifest push --all`; its digest is read back over the
 *    registry's HTTP API, which must list exactly amd64 and arm64, each with the OCI labels;
 * 3. each platform is pulled by digest into a third, empty store; the amd64 one runs under
 *    runc (as 65532, read-only root, own namespaces) and reports the labelled commit; the
 *    arm64 one runs under qemu-user when qemu-aarch64-static is installed.
 *
 * Needs root, buildah, runc, docker-registry. Skipped with a warning without them, except
 * under CI, where a missing tool fails (.ci/run installs them).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { lstatSync, readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { compile } from "../../build.ts";
import { buildImage, type BuiltImage, type ImageArch, pushImage } from "../../release/build-image.ts";
import { IMAGE_BINARY_PATH } from "../../release/scratch-context.ts";
import pkg from "../../package.json" with { type: "json" };
import { tempDir } from "../helpers/binary.ts";
import { killChild, onCleanup, orphanGuard, trackChild } from "../helpers/cleanup.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const SEARCH_PATH = `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/local/sbin:/usr/sbin:/sbin`;
const which = (cmd: string): string | null => Bun.which(cmd, { PATH: SEARCH_PATH });
const TOOLS = { buildah: "buildah", runc: "runc", "docker-registry": "docker-registry" } as const;
type Tool = keyof typeof TOOLS;
const CROSS_LIBC = "/usr/aarch64-linux-gnu/lib/libc.so.6"; // libc6-arm64-cross

type Gate = { kind: "run"; bin: Record<Tool, string> } | { kind: "skip"; reason: string } | { kind: "fail"; reason: string };
function gate(): Gate {
  if (process.platform !== "linux" || process.arch !== "x64") return { kind: "skip", reason: `needs Linux on x64 (this is ${process.platform}-${process.arch})` };
  const bin: Partial<Record<Tool, string>> = {};
  const missing: string[] = [];
  for (const [tool, debian] of Object.entries(TOOLS) as [Tool, string][]) {
    const path = which(tool);
    if (path === null) missing.push(debian);
    else bin[tool] = path;
  }
  if (!Bun.file(CROSS_LIBC).size) missing.push("libc6-arm64-cross");
  if (missing.length > 0) {
    const reason = `missing Debian packages ${missing.join(", ")} (apt-get install -y --no-install-recommends ${missing.join(" ")})`;
    return process.env.CI ? { kind: "fail", reason: `CI must install the image-registry tools: ${reason}` } : { kind: "skip", reason };
  }
  if (process.getuid?.() !== 0) return { kind: "skip", reason: "needs root (rootful buildah vfs store and runc)" };
  return { kind: "run", bin: bin as Record<Tool, string> };
}
const GATE = gate();
if (GATE.kind === "skip") console.warn(`SKIP: image-registry test (multi-arch image by digest): ${GATE.reason}`);
const RUN = GATE.kind === "run";
const QEMU = which("qemu-aarch64-static");

const SOURCE = "https://example.invalid/credproxy"; // a label value only: never fetched
const EPOCH = "1767225600"; // 2026-01-01T00:00:00Z
const MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}
interface PlatformManifest {
  digest: string;
  size: number;
  mediaType: string;
  platform: { os: string; architecture: string };
}
interface ImageManifest {
  config: { digest: string };
  layers: { digest: string; size: number }[];
}
interface ImageConfig {
  architecture: string;
  os: string;
  created: string;
  config: { User?: string; Entrypoint?: string[]; Env?: string[]; Labels?: Record<string, string>; Healthcheck?: { Test?: string[] } };
  rootfs: { diff_ids: string[] };
}

describe("multi-arch image by digest (buildah manifest list, docker-registry, runc)", () => {
  if (GATE.kind === "fail") {
    test("image-registry prerequisites", () => {
      throw new Error(GATE.reason);
    });
    return;
  }
  const bin = GATE.kind === "run" ? GATE.bin : undefined;
  let work = "";
  let env: Record<string, string> = {};
  const store = (name: string): string[] => [bin!.buildah, "--root", join(work, name, "storage"), "--runroot", join(work, name, "run"), "--storage-driver", "vfs"];
  const builds: BuiltImage[] = [];
  let registry = "";
  let digest = "";
  let digest2 = "";
  let list: { schemaVersion: number; mediaType: string; manifests: PlatformManifest[] } = { schemaVersion: 0, mediaType: "", manifests: [] };
  const configs: Partial<Record<ImageArch, { manifest: ImageManifest; config: ImageConfig }>> = {};
  const teardown: (() => Promise<unknown>)[] = [];

  const run = async (cmd: string[], timeoutMs = 120_000): Promise<Ran> => {
    const proc = Bun.spawn(cmd, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
    trackChild(proc);
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    return { code: proc.exitCode, stdout, stderr };
  };
  const must = async (cmd: string[], timeoutMs?: number): Promise<string> => {
    const r = await run(cmd, timeoutMs);
    if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const get = async (path: string, accept?: string): Promise<{ body: Uint8Array; type: string | null }> => {
    const r = await fetch(`http://${registry}${path}`, { headers: accept ? { accept } : {}, signal: AbortSignal.timeout(10_000) });
    if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
    return { body: new Uint8Array(await r.arrayBuffer()), type: r.headers.get("content-type") };
  };
  const sha256 = (data: Uint8Array): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;
  /** The rootfs of a platform pulled by digest into an empty store. */
  const pulled = async (arch: ImageArch): Promise<{ rootfs: string; inspect: { Docker?: ImageConfig; OCIv1?: ImageConfig } }> => {
    const b = store("pulled");
    const ref = `${registry}/credproxy@${digest}`;
    await must([...b, "pull", "--quiet", "--tls-verify=false", "--os", "linux", "--arch", arch, ref]);
    const id = (await must([...b, "from", "--pull=never", "--arch", arch, "--name", `pulled-${arch}`, ref])).trim();
    teardown.push(() => must([...b, "rm", id]));
    const rootfs = (await must([...b, "mount", id])).trim();
    teardown.push(() => must([...b, "umount", id]));
    const inspect = JSON.parse(await must([...b, "inspect", "--type", "container", id])) as { Docker?: ImageConfig; OCIv1?: ImageConfig };
    return { rootfs, inspect };
  };

  beforeAll(async () => {
    if (!bin) return;
    work = await tempDir("credproxy-image-registry-");
    await mkdir(join(work, "tmp"));
    env = { PATH: SEARCH_PATH, HOME: work, TMPDIR: join(work, "tmp"), LC_ALL: "C", BUILDAH_ISOLATION: "chroot", SOURCE_DATE_EPOCH: EPOCH };
    onCleanup("image-registry teardown", async () => {
      while (teardown.length > 0) await teardown.pop()!().catch(() => undefined);
    });

    // 1. Both Linux binaries, then the image twice, in two stores.
    const releaseDir = join(work, "release");
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = EPOCH; // the binaries' build date too
    try {
      await compile({ outfile: join(releaseDir, "credproxy-linux-x64"), target: "bun-linux-x64" });
      await compile({ outfile: join(releaseDir, "credproxy-linux-arm64"), target: "bun-linux-arm64" });
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
    for (const name of ["build1", "build2"]) {
      const t0 = performance.now();
      builds.push(await buildImage({ buildah: store(name), releaseDir, workDir: join(work, name, "ctx"), name: "localhost/credproxy:test", source: SOURCE, env }));
      console.log(`${name}: both platforms and the list in ${Math.round(performance.now() - t0)} ms`);
    }

    // 2. The registry, and the push.
    const port = await freePort();
    registry = `127.0.0.1:${port}`;
    const config = join(work, "registry.yml");
    await writeFile(
      config,
      `version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: ${join(work, "registry")} }
  delete: { enabled: true }
http:
  addr: ${registry}
`,
    );
    const logFile = join(work, "registry.log");
    const proc: Subprocess = Bun.spawn(orphanGuard([bin["docker-registry"], "serve", config]), { env, stdin: "ignore", stdout: Bun.file(logFile), stderr: Bun.file(logFile) });
    trackChild(proc);
    teardown.push(() => killChild(proc));
    await waitFor(async () => (proc.exitCode !== null ? "exited" : (await fetch(`http://${registry}/v2/`).catch(() => undefined))?.status === 200 && "up"), {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: `docker-registry on ${registry}`,
    }).then(async (state) => {
      if (state === "exited") throw new Error(`docker-registry exited ${proc.exitCode}: ${await Bun.file(logFile).text()}`);
    });
    digest = pushImage(store("build1"), builds[0]!.list, `docker://${registry}/credproxy:${pkg.version}`, { digestFile: join(work, "digest"), tlsVerify: false, env });
    console.log(`pushed ${registry}/credproxy@${digest}`);
    digest2 = pushImage(store("build2"), builds[1]!.list, `docker://${registry}/credproxy:second-build`, { digestFile: join(work, "digest2"), tlsVerify: false, env });

    // 3. What the registry holds, by digest.
    const top = await get(`/v2/credproxy/manifests/${digest}`, MANIFEST_LIST);
    expect(sha256(top.body)).toBe(digest);
    list = JSON.parse(new TextDecoder().decode(top.body)) as typeof list;
    for (const m of list.manifests) {
      const arch = m.platform.architecture as ImageArch;
      const manifest = JSON.parse(new TextDecoder().decode((await get(`/v2/credproxy/manifests/${m.digest}`, m.mediaType)).body)) as ImageManifest;
      const blob = await get(`/v2/credproxy/blobs/${manifest.config.digest}`);
      expect(sha256(blob.body)).toBe(manifest.config.digest);
      configs[arch] = { manifest, config: JSON.parse(new TextDecoder().decode(blob.body)) as ImageConfig };
    }
  }, 300_000);

  afterAll(async () => {
    while (teardown.length > 0) await teardown.pop()!();
  }, 60_000);

  test.skipIf(!RUN)("the digest names a manifest list of exactly linux/amd64 and linux/arm64", () => {
    expect(list.mediaType).toBe(MANIFEST_LIST);
    expect(list.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort()).toEqual(["linux/amd64", "linux/arm64"]);
    for (const m of list.manifests) expect(m.mediaType).toBe(MANIFEST);
    for (const arch of ["amd64", "arm64"] as const) expect(configs[arch]?.config).toMatchObject({ os: "linux", architecture: arch });
  });

  test.skipIf(!RUN)("each platform carries the OCI labels, created from SOURCE_DATE_EPOCH, and the HEALTHCHECK", async () => {
    const revision = (await must(["git", "-C", join(import.meta.dir, "../.."), "rev-parse", "HEAD"])).trim();
    const created = new Date(Number(EPOCH) * 1000).toISOString().replace(".000Z", "Z");
    for (const arch of ["amd64", "arm64"] as const) {
      const c = configs[arch]!.config;
      expect(c.config.Labels).toEqual({
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.version": pkg.version,
        "org.opencontainers.image.licenses": "MPL-2.0",
        "org.opencontainers.image.created": created,
      });
      expect(new Date(c.created).getTime()).toBe(Number(EPOCH) * 1000);
      expect(c.config.Healthcheck?.Test).toEqual(["CMD", `/${IMAGE_BINARY_PATH}`, "healthcheck"]);
      expect(c.config.User).toBe("65532:65532");
      const layers = configs[arch]!.manifest.layers;
      const bytes = layers.reduce((n, l) => n + l.size, 0);
      console.log(`linux/${arch}: ${layers.length} layer(s), ${(bytes / 1048576).toFixed(1)} MiB compressed in the registry, manifest ${list.manifests.find((m) => m.platform.architecture === arch)!.digest}`);
    }
  });

  test.skipIf(!RUN)("two builds with one SOURCE_DATE_EPOCH push the same manifest list digest", () => {
    console.log(`first build ${digest}, second build ${digest2}`);
    expect(digest2).toBe(digest);
    expect(builds[1]!.images.map((i) => i.id)).toEqual(builds[0]!.images.map((i) => i.id));
  });

  test.skipIf(!RUN)("two builds with one SOURCE_DATE_EPOCH give byte-identical layers for both platforms", async () => {
    const layers = async (name: string, image: string): Promise<{ diffIds: string[]; created: string }> => {
      const inspect = JSON.parse(await must([...store(name), "inspect", "--type", "image", image])) as { Docker: ImageConfig };
      return { diffIds: inspect.Docker.rootfs.diff_ids, created: inspect.Docker.created };
    };
    for (const arch of ["amd64", "arm64"] as const) {
      const [a, b] = (await Promise.all(builds.map((built, i) => layers(`build${i + 1}`, built.images.find((x) => x.arch === arch)!.name)))) as [Awaited<ReturnType<typeof layers>>, Awaited<ReturnType<typeof layers>>];
      expect(a).toEqual(b);
      expect(a.diffIds).toEqual(configs[arch]!.config.rootfs.diff_ids); // and the registry holds those layers
      console.log(`linux/${arch}: both builds give layer ${a.diffIds.join(", ")}`);
    }
  });

  test.skipIf(!RUN)(
    "the amd64 image pulled by digest runs under runc as 65532 with a read-only root and reports its labelled commit",
    async () => {
      const { rootfs, inspect } = await pulled("amd64");
      const config = inspect.Docker ?? inspect.OCIv1!;
      expect(config.architecture).toBe("amd64");
      const bundle = join(work, "bundle");
      await mkdir(bundle);
      const runc = [bin!.runc, "--root", join(work, "runc")];
      await must([...runc, "spec", "--bundle", bundle]);
      const spec = JSON.parse(await Bun.file(join(bundle, "config.json")).text()) as {
        process: { terminal: boolean; user: { uid: number; gid: number }; args: string[]; env: string[]; cwd: string };
        root: { path: string; readonly: boolean };
      };
      const [uid, gid] = (config.config.User ?? "").split(":").map(Number);
      spec.process = { ...spec.process, terminal: false, user: { uid: uid!, gid: gid! }, args: [...(config.config.Entrypoint ?? []), "--version", "--json"], env: config.config.Env ?? [], cwd: "/" };
      spec.root = { path: rootfs, readonly: true };
      await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
      const ctr = `credproxy-registry-${process.pid}`;
      teardown.push(() => run([...runc, "delete", "--force", ctr]));
      const r = await run([...runc, "run", "--bundle", bundle, ctr], 60_000);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      const info = JSON.parse(r.stdout) as { version: string; commit: string; platform: string; buildDate: string };
      expect(info).toMatchObject({ version: pkg.version, platform: "linux-x64", buildDate: "2026-01-01T00:00:00Z" });
      expect(config.config.Labels?.["org.opencontainers.image.revision"]?.startsWith(info.commit)).toBe(true);
    },
    120_000,
  );

  test.skipIf(!RUN)(
    "the arm64 image pulled by digest holds an aarch64 binary and its loader, and runs under qemu-user where installed",
    async () => {
      const { rootfs, inspect } = await pulled("arm64");
      expect((inspect.Docker ?? inspect.OCIv1!).architecture).toBe("arm64");
      const head = new DataView(await Bun.file(join(rootfs, IMAGE_BINARY_PATH)).slice(0, 20).arrayBuffer());
      expect(head.getUint16(18, true)).toBe(183); // EM_AARCH64
      expect(Bun.file(join(rootfs, "lib/ld-linux-aarch64.so.1")).size).toBeGreaterThan(0);
      // Exactly the context: the binary, the DT_NEEDED closure from libc6-arm64-cross, passwd/group, home.
      const found = (readdirSync(rootfs, { recursive: true }) as string[]).filter((p) => !lstatSync(join(rootfs, p)).isDirectory() || p === "home/nonroot");
      expect(found.sort()).toEqual(builds[0]!.images.find((i) => i.arch === "arm64")!.contextFiles);
      expect(found.filter((p) => p.startsWith("lib/"))).toEqual([
        "lib/aarch64-linux-gnu/libc.so.6",
        "lib/aarch64-linux-gnu/libdl.so.2",
        "lib/aarch64-linux-gnu/libm.so.6",
        "lib/aarch64-linux-gnu/libpthread.so.0",
        "lib/ld-linux-aarch64.so.1",
      ]);
      if (QEMU === null) {
        if (process.env.CI) throw new Error("CI must install qemu-user-static (qemu-aarch64-static runs the arm64 image's binary)");
        console.warn("SKIP: qemu-aarch64-static is not installed (Debian qemu-user-static); the arm64 binary was not run");
        return;
      }
      const r = await run([QEMU, "-L", rootfs, join(rootfs, IMAGE_BINARY_PATH), "--version", "--json"], 60_000);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      expect(JSON.parse(r.stdout)).toMatchObject({ version: pkg.version, platform: "linux-arm64" });
    },
    120_000,
  );
});
