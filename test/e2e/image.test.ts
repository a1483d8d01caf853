/**
 * The real FROM-scratch image check, without a Docker engine (reference: bun-platform.md §2.2):
 *
 * 1. release/scratch-context.ts builds the context from dist/credproxy into a temp dir laid
 *    out like the repo (<ctx>/dist/scratch/, Dockerfile.scratch, .dockerignore);
 * 2. buildah builds Dockerfile.scratch in a private vfs store (--pull=never, --format docker so
 *    HEALTHCHECK survives); the image config and file tree are checked;
 * 3. the image's rootfs runs under runc (never crun: it fails on hybrid cgroups) as 65532,
 *    read-only root, tmpfs /tmp, config bind-mounted read-only at /credproxy/config.yaml, in a
 *    network namespace made with `ip netns add`. moto runs in the same namespace as the STS, so
 *    the service really assumes its role: the image's own HEALTHCHECK command turns healthy,
 *    HTTP clients in that namespace (this bun, and boto3) get working credentials, and
 *    `runc kill TERM` stops it.
 *
 * Needs root, buildah, runc, ip and moto_server. Without them it is skipped with a
 * warning, except under CI, where a missing tool fails the test (.ci/run installs them).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { IMAGE_BINARY_PATH, prepareScratchContext } from "../../release/scratch-context.ts";
import { BINARY_PATH, credproxyBinary, REPO_ROOT, tempDir } from "../helpers/binary.ts";
import { killChild, onCleanup, orphanGuard, trackChild } from "../helpers/cleanup.ts";
import { waitFor, withTimeout } from "../helpers/wait.ts";

// ---------------------------------------------------------------------------------------------
// Prerequisites: decided at load time so the tests can be skipped (loudly) or failed.

const SEARCH_PATH = `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/local/sbin:/usr/sbin:/sbin`;
const which = (cmd: string): string | null => Bun.which(cmd, { PATH: SEARCH_PATH });
const TOOLS = { buildah: "buildah", runc: "runc", ip: "iproute2", moto_server: "moto (pip install 'moto[server]')" } as const;
type Tool = keyof typeof TOOLS;

type Gate = { kind: "run"; bin: Record<Tool, string> } | { kind: "skip"; reason: string } | { kind: "fail"; reason: string };

function gate(): Gate {
  if (process.platform !== "linux") return { kind: "skip", reason: `needs Linux (this is ${process.platform})` };
  const bin: Partial<Record<Tool, string>> = {};
  const missing: string[] = [];
  for (const [tool, pkg] of Object.entries(TOOLS) as [Tool, string][]) {
    const path = which(tool);
    if (path === null) missing.push(`${tool} (${pkg})`);
    else bin[tool] = path;
  }
  if (missing.length > 0) {
    const reason = `missing ${missing.join(", ")}; install with apt-get install -y --no-install-recommends buildah runc iproute2`;
    return process.env.CI ? { kind: "fail", reason: `CI must install the image-test tools: ${reason}` } : { kind: "skip", reason };
  }
  if (process.getuid?.() !== 0) return { kind: "skip", reason: "needs root (rootful buildah vfs store, runc and ip netns)" };
  const probe = Bun.spawnSync(["unshare", "--net", "--pid", "--mount", "--uts", "--ipc", "--fork", "true"], { env: { PATH: SEARCH_PATH } });
  if (probe.exitCode !== 0) return { kind: "skip", reason: `the kernel refuses namespaces: ${probe.stderr.toString().trim()}` };
  return { kind: "run", bin: bin as Record<Tool, string> };
}

const GATE = gate();
if (GATE.kind === "skip") console.warn(`SKIP: image test (Dockerfile.scratch under buildah + runc): ${GATE.reason}`);
const RUN = GATE.kind === "run";

// ---------------------------------------------------------------------------------------------
// Small process helpers.

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

let toolEnv: Record<string, string> = { PATH: SEARCH_PATH };

async function run(cmd: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Ran> {
  const proc = Bun.spawn(cmd, { env: options.env ?? toolEnv, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  trackChild(proc);
  const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  try {
    await withTimeout(proc.exited, options.timeoutMs ?? 60_000, cmd.join(" "));
  } catch (err) {
    await killChild(proc, "SIGKILL");
    throw err;
  }
  const [stdout, stderr] = await output;
  return { code: proc.exitCode, stdout, stderr };
}

async function must(cmd: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<string> {
  const r = await run(cmd, options);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Teardown steps, run newest first from afterAll (and from cleanupAll as a backstop). */
const teardown: { name: string; run: () => Promise<unknown> }[] = [];
async function runTeardown(): Promise<void> {
  const errors: string[] = [];
  while (teardown.length > 0) {
    const step = teardown.pop()!;
    try {
      await step.run();
    } catch (err) {
      errors.push(`${step.name}: ${String(err)}`);
    }
  }
  if (errors.length > 0) throw new Error(`image test teardown had errors:\n${errors.join("\n")}`);
}
const later = (name: string, fn: () => Promise<unknown>): void => {
  teardown.push({ name, run: fn });
};

/** Network namespaces left by test processes that died before their teardown. */
const NETNS_PREFIX = "cpimg-";
async function removeStaleNetns(ip: string): Promise<void> {
  const list = await run([ip, "netns", "list"]);
  for (const line of list.stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // its test process is still running
    } catch {
      // dead: remove what it left
    }
    const pids = await run([ip, "netns", "pids", name]);
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // gone
      }
    }
    await run([ip, "netns", "del", name]);
  }
}

/**
 * An HTTP GET from inside a network namespace, with the bun running this test as the client
 * (always present, unlike curl). Prints {status, body} as one JSON line.
 */
const FETCH_SCRIPT = `const r = await fetch(process.env.URL, { headers: JSON.parse(process.env.HEADERS), signal: AbortSignal.timeout(10000) });
console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;

// ---------------------------------------------------------------------------------------------

interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  ExposedPorts?: Record<string, unknown>;
}
interface Healthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}
interface RuntimeSpec {
  process: { terminal: boolean; user: { uid: number; gid: number; additionalGids?: number[] }; args: string[]; env: string[]; cwd: string };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: { namespaces: { type: string; path?: string }[] };
}

const STS_PORT = 5000;
const TOKEN = "image-test-token-0123456789abcdef";
const ROLE_ARN = "arn:aws:iam::123456789012:role/image-app";
const CONFIG_YAML = `# The image's default config path, bind-mounted read-only by the test.
server:
  host: 0.0.0.0
  port: 1338
aws_defaults:
  region: us-east-1
  sts_endpoint: http://127.0.0.1:${STS_PORT}
  iam_keys:
    aws_access_key_id: AKIAIOSFODNN7EXAMPLE
    aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
services:
  app:
    auth_token: ${TOKEN}
    assumed_role:
      RoleArn: ${ROLE_ARN}
      RoleSessionName: image-test
`;

describe("FROM-scratch image (Dockerfile.scratch, buildah + runc)", () => {
  if (GATE.kind === "fail") {
    test("image-test prerequisites", () => {
      throw new Error(GATE.reason);
    });
    return;
  }
  const bin = GATE.kind === "run" ? GATE.bin : undefined;

  const id = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const image = `localhost/credproxy-test:${id}`;
  const netns = `${NETNS_PREFIX}${id}`;
  const ctrId = `credproxy-image-${id}`;
  const started = performance.now();
  let work = "";
  let buildah: string[] = [];
  let runc: string[] = [];
  let contextFiles: string[] = [];
  let config: ImageConfig = {};
  let healthcheck: Healthcheck = {};
  let rootfs = "";
  let containerLog = "";
  let motoLog = "";
  let buildMs = 0;

  const inNetns = (cmd: string[]): string[] => [bin!.ip, "netns", "exec", netns, ...cmd];
  const netnsGet = async (url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> => {
    const out = await must(inNetns([process.execPath, "-e", FETCH_SCRIPT]), {
      env: { PATH: SEARCH_PATH, HOME: work, URL: url, HEADERS: JSON.stringify(headers) },
      timeoutMs: 15_000,
    });
    return JSON.parse(out) as { status: number; body: string };
  };
  const logTail = (): string => {
    const read = (p: string): string => {
      try {
        return readFileSync(p, "utf8").split("\n").slice(-30).join("\n");
      } catch {
        return "(none)";
      }
    };
    return `--- container log ---\n${read(containerLog)}\n--- moto log ---\n${read(motoLog)}`;
  };

  beforeAll(async () => {
    if (!bin) return;
    credproxyBinary(); // a clear error when dist/credproxy has not been built
    work = await tempDir("credproxy-image-");
    const tmp = join(work, "tmp");
    await mkdir(tmp);
    toolEnv = { PATH: SEARCH_PATH, HOME: work, TMPDIR: tmp, LC_ALL: "C", BUILDAH_ISOLATION: "chroot" };
    onCleanup("image test teardown", runTeardown);
    await removeStaleNetns(bin.ip);

    // 1. Context, laid out like the repo after `npm run release`.
    const ctx = join(work, "ctx");
    contextFiles = (await prepareScratchContext(BINARY_PATH, join(ctx, "dist", "scratch"))).files;
    for (const f of ["Dockerfile.scratch", ".dockerignore"]) await Bun.write(join(ctx, f), Bun.file(join(REPO_ROOT, f)));

    // 2. Build in a private store.
    buildah = [bin.buildah, "--root", join(work, "storage"), "--runroot", join(work, "run"), "--storage-driver", "vfs"];
    runc = [bin.runc, "--root", join(work, "runc")];
    const t0 = performance.now();
    await must([...buildah, "bud", "--quiet", "--pull=never", "--format", "docker", "-f", "Dockerfile.scratch", "-t", image, ctx], { timeoutMs: 120_000 });
    later("buildah rmi", () => must([...buildah, "rmi", "-f", image]));
    buildMs = performance.now() - t0;
    const inspect = JSON.parse(await must([...buildah, "inspect", "--type", "image", image])) as {
      OCIv1?: { config?: ImageConfig };
      Docker?: { config?: { Healthcheck?: Healthcheck } };
    };
    config = inspect.OCIv1?.config ?? {};
    healthcheck = inspect.Docker?.config?.Healthcheck ?? {};

    // 3. The image's rootfs.
    const container = `credproxy-image-${id}`;
    await must([...buildah, "from", "--pull=never", "--name", container, image]);
    later("buildah rm", () => must([...buildah, "rm", container]));
    rootfs = (await must([...buildah, "mount", container])).trim();
    later("buildah umount", () => must([...buildah, "umount", container]));

    // 4. A network namespace with moto in it as the STS.
    await must([bin.ip, "netns", "add", netns]);
    later("ip netns del", () => must([bin.ip, "netns", "del", netns]));
    await must([bin.ip, "-n", netns, "link", "set", "lo", "up"]);
    motoLog = join(work, "moto.log");
    const motoFd = openSync(motoLog, "a");
    const motoEnv: Record<string, string> = {
      PATH: SEARCH_PATH,
      HOME: work,
      LANG: "C.UTF-8",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      AWS_EC2_METADATA_DISABLED: "true",
      ...(process.env.PYENV_ROOT ? { PYENV_ROOT: process.env.PYENV_ROOT } : {}),
    };
    let moto: Subprocess;
    try {
      moto = Bun.spawn(orphanGuard(inNetns([bin.moto_server, "-H", "127.0.0.1", "-p", String(STS_PORT)])), {
        env: motoEnv,
        cwd: work,
        stdin: "ignore",
        stdout: motoFd,
        stderr: motoFd,
      });
    } finally {
      closeSync(motoFd);
    }
    trackChild(moto);
    later("stop moto", () => killChild(moto));
    const ready = await waitFor(
      async () => (moto.exitCode !== null ? "exited" : (await netnsGet(`http://127.0.0.1:${STS_PORT}/moto-api/`)).status === 200 && "up"),
      { timeoutMs: 30_000, intervalMs: 50, what: "moto_server to answer inside the namespace" },
    );
    if (ready === "exited") throw new Error(`moto_server exited ${moto.exitCode}\n${logTail()}`);
  }, 180_000);

  afterAll(runTeardown, 60_000);

  test.skipIf(!RUN)("image config: non-root user, entrypoint, cmd, HOME, port and HEALTHCHECK", () => {
    const entrypoint = `/${IMAGE_BINARY_PATH}`;
    expect(config.User).toBe("65532:65532");
    expect(config.Entrypoint).toEqual([entrypoint]);
    expect(config.Cmd).toEqual(["serve"]);
    expect(config.Env).toContain("HOME=/home/nonroot");
    expect(Object.keys(config.ExposedPorts ?? {})).toEqual(["1338/tcp"]);
    expect(healthcheck.Test).toEqual(["CMD", entrypoint, "healthcheck"]);
    expect(healthcheck).toMatchObject({ Interval: 10e9, Timeout: 3e9, StartPeriod: 5e9, Retries: 3 });
    console.log(
      `image: user=${config.User} entrypoint=${JSON.stringify(config.Entrypoint)} cmd=${JSON.stringify(config.Cmd)} healthcheck=${JSON.stringify(healthcheck.Test)}; built in ${Math.round(buildMs)} ms`,
    );
  });

  test.skipIf(!RUN)("image holds exactly the context: binary unstripped, glibc files, passwd/group, home owned by 65532", async () => {
    const found: string[] = [];
    const walk = (rel: string): void => {
      for (const name of readdirSync(join(rootfs, rel))) {
        const path = rel === "" ? name : `${rel}/${name}`;
        found.push(path);
        if (lstatSync(join(rootfs, path)).isDirectory()) walk(path);
      }
    };
    walk("");
    const expected = new Set<string>();
    for (const f of contextFiles) {
      const parts = f.split("/");
      for (let i = 1; i <= parts.length; i++) expected.add(parts.slice(0, i).join("/"));
    }
    expect(found.sort()).toEqual([...expected].sort());
    for (const path of found) {
      const st = lstatSync(join(rootfs, path));
      expect({ path, owner: `${st.uid}:${st.gid}` }).toEqual({ path, owner: path === "home/nonroot" ? "65532:65532" : "0:0" });
    }
    const hash = async (p: string): Promise<string> => new Bun.CryptoHasher("sha256").update(await Bun.file(p).arrayBuffer()).digest("hex");
    expect(await hash(join(rootfs, IMAGE_BINARY_PATH))).toBe(await hash(BINARY_PATH));
    expect(contextFiles).toContain("lib64/ld-linux-x86-64.so.2");
    expect(lstatSync(join(rootfs, "lib64/ld-linux-x86-64.so.2")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(rootfs, "etc/passwd"), "utf8")).toContain("nonroot:x:65532:65532:nonroot:/home/nonroot:");
  });

  test.skipIf(!RUN)(
    "runs under runc as 65532 with a read-only root: healthy, serves credentials in its namespace, stops on SIGTERM",
    async () => {
      // Bundle: the image's own entrypoint, cmd, env and user.
      const bundle = join(work, "bundle");
      await mkdir(bundle);
      const configFile = join(work, "config.yaml");
      await writeFile(configFile, CONFIG_YAML, { mode: 0o644 });
      await must([...runc, "spec", "--bundle", bundle]);
      const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as RuntimeSpec;
      const [uid, gid] = (config.User ?? "").split(":").map(Number);
      spec.process.terminal = false;
      spec.process.args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
      spec.process.env = (config.Env ?? []).filter((e) => !e.startsWith("NODE_EXTRA_CA_CERTS="));
      spec.process.user = { uid: uid ?? -1, gid: gid ?? -1 };
      spec.process.cwd = "/";
      spec.root = { path: rootfs, readonly: true };
      spec.hostname = "credproxy";
      spec.mounts.push(
        { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
        { destination: "/credproxy/config.yaml", type: "bind", source: configFile, options: ["rbind", "ro"] },
      );
      spec.linux.namespaces = spec.linux.namespaces.map((ns) => (ns.type === "network" ? { type: "network", path: `/var/run/netns/${netns}` } : ns));
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec, null, 2));

      containerLog = join(work, "container.log");
      const logFd = openSync(containerLog, "a");
      let runProc: Subprocess;
      try {
        runProc = Bun.spawn([...runc, "run", "--detach", "--bundle", bundle, ctrId], { env: toolEnv, stdin: "ignore", stdout: logFd, stderr: logFd });
      } finally {
        closeSync(logFd);
      }
      trackChild(runProc);
      later("runc delete", async () => {
        const r = await run([...runc, "delete", "--force", ctrId]);
        if (r.code !== 0 && !/does not exist/.test(r.stderr)) throw new Error(`runc delete exited ${r.code}: ${r.stderr}`);
      });
      const t0 = performance.now();
      expect(await withTimeout(runProc.exited, 30_000, "runc run --detach")).toBe(0);

      const state = async (): Promise<{ status: string; pid: number }> => JSON.parse(await must([...runc, "state", ctrId])) as { status: string; pid: number };

      // The image's own HEALTHCHECK command, until it passes (the service has its credentials).
      const probe = (healthcheck.Test ?? []).slice(1);
      let tries = 0;
      let last: Ran | undefined;
      const outcome = await waitFor(
        async () => {
          tries++;
          last = await run([...runc, "exec", ctrId, ...probe], { timeoutMs: 10_000 });
          if (last.code === 0) return "healthy";
          return (await state()).status === "stopped" && "stopped"; // crashed: fail now, not after 30 s
        },
        { timeoutMs: 30_000, intervalMs: 50, what: "the image HEALTHCHECK to pass" },
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\nlast healthcheck: exit ${last?.code} ${last?.stderr}\n${logTail()}`);
      });
      if (outcome === "stopped") throw new Error(`the container stopped before it was healthy\n${logTail()}`);
      const healthyMs = performance.now() - t0;
      console.log(`healthcheck: healthy ${Math.round(healthyMs)} ms after runc run, ${tries} tries`);
      expect(last?.stdout).toMatch(/^healthy: /);

      // The served process (checked once healthy: right after `runc run -d` returns, the pid
      // can still be runc's init, before it execs the entrypoint).
      const { pid } = await state();
      expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean)).toEqual(spec.process.args);
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      expect(status).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
      expect(status).toMatch(/^NSpid:\s+\d+\s+1$/m); // PID 1 of its own namespace
      const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
      expect(env).toContain("HOME=/home/nonroot");
      expect(env.some((e) => e.startsWith("NODE_EXTRA_CA_CERTS="))).toBe(false);

      // A failing probe: exit 1 with exactly one stderr line.
      const bad = await run([...runc, "exec", ctrId, ...probe, "http://127.0.0.1:1/health"], { timeoutMs: 15_000 });
      expect(bad.code).toBe(1);
      expect(bad.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(bad.stderr).toMatch(/^unhealthy: /);

      // Clients in the container's network namespace.
      const health = await netnsGet("http://127.0.0.1:1338/health");
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ status: "healthy", services: 1, checks: { app: { serving: true } } });
      expect((await netnsGet("http://127.0.0.1:1338/v1/credentials")).status).toBe(401);
      const creds = await netnsGet("http://127.0.0.1:1338/v1/credentials", { authorization: TOKEN });
      expect(creds.status).toBe(200);
      const body = JSON.parse(creds.body) as Record<string, unknown>;
      expect(body).toMatchObject({ AccessKeyId: expect.stringMatching(/^ASIA/), SecretAccessKey: expect.any(String), Token: expect.any(String), Expiration: expect.stringMatching(/Z$/) });

      // An SDK in that namespace signs with them: moto maps the key back to the assumed role.
      const boto = await run(
        inNetns([
          "python3",
          "-c",
          `import boto3; print(boto3.client("sts", endpoint_url="http://127.0.0.1:${STS_PORT}", region_name="us-east-1").get_caller_identity()["Arn"])`,
        ]),
        {
          env: {
            PATH: SEARCH_PATH,
            HOME: work,
            ...(process.env.PYENV_ROOT ? { PYENV_ROOT: process.env.PYENV_ROOT } : {}),
            AWS_CONFIG_FILE: "/dev/null",
            AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
            AWS_EC2_METADATA_DISABLED: "true",
            AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://127.0.0.1:1338/v1/credentials",
            AWS_CONTAINER_AUTHORIZATION_TOKEN: TOKEN,
          },
          timeoutMs: 30_000,
        },
      );
      if (boto.stderr.includes("No module named 'boto3'")) {
        console.warn("SKIP: boto3 is not importable by python3; the SDK check of the image test did not run");
      } else {
        expect({ code: boto.code, stderr: boto.stderr }).toEqual({ code: 0, stderr: "" });
        expect(boto.stdout.trim()).toBe("arn:aws:sts::123456789012:assumed-role/image-app/image-test");
      }

      // SIGTERM: as PID 1 it stops only because credproxy handles the signal.
      const k0 = performance.now();
      await must([...runc, "kill", ctrId, "TERM"]);
      await waitFor(async () => (await state()).status === "stopped", { timeoutMs: 5_000, intervalMs: 10, what: `container to stop after SIGTERM\n${logTail()}` });
      const stopMs = performance.now() - k0;
      console.log(`SIGTERM: stopped in ${Math.round(stopMs)} ms`);
      expect(stopMs).toBeLessThan(2000);
      expect(readFileSync(containerLog, "utf8")).toContain('"msg":"stopped"');
      console.log(`image test: ${Math.round(performance.now() - started)} ms in total (build ${Math.round(buildMs)} ms)`);
    },
    120_000,
  );
});
