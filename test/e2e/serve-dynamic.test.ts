/** Dynamic service files, end to end: the compiled binary watching a real directory. */
import { existsSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmod, mkdir, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startMoto, type PlainMoto } from "../helpers/moto.ts";
import { waitFor } from "../helpers/wait.ts";
import { serviceYaml, sourceYaml, startServe, type RunningServe } from "./serve-fixture.ts";

let moto: PlainMoto;
let serve: RunningServe | undefined;
const STATIC_TOKEN = "static-service-token-0123456789";

beforeAll(async () => {
  moto = await startMoto();
});
afterEach(async () => {
  await serve?.proc.kill();
  serve = undefined;
});
afterAll(async () => {
  await moto?.stop();
});

const SOURCE_SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY";

async function start(directoryExtra: string[] = [], options: { createDirectory?: boolean } = {}): Promise<{ serve: RunningServe; dyn: string }> {
  serve = await startServe(
    [
      "server: { port: {{port}} }",
      sourceYaml(moto.endpoint, "AKIAIOSFODNN7EXAMPLE", SOURCE_SECRET),
      "services:",
      serviceYaml("app", STATIC_TOKEN, moto.roleArn("role-a")),
      "dynamic_services:",
      "  enabled: true",
      "  reload_interval: 1",
      "  directories:",
      "    - path: {{dir}}/dynamic",
      "      include_patterns: ['.*\\.ya?ml$']",
      "      exclude_patterns: ['\\..*', '.*~$']",
      ...directoryExtra.map((line) => `      ${line}`),
    ].join("\n"),
    { dirs: options.createDirectory === false ? [] : ["dynamic"] },
  );
  return { serve, dyn: join(serve.dir, "dynamic") };
}

function servicesFile(entries: [name: string, token: string, role: string][]): string {
  return "services:\n" + entries.map(([n, t, r]) => serviceYaml(n, t, moto.roleArn(r))).join("\n") + "\n";
}

const roleOf = async (s: RunningServe, token: string) => {
  const res = await s.credentials(token);
  return res.status === 200 ? ((await res.json()) as { RoleArn: string }).RoleArn : res.status;
};
const poll = { timeoutMs: 10_000, intervalMs: 100 };

describe("dynamic services", () => {
  test("a missing directory is not created: /health names it, and it is taken up once it appears", async () => {
    const { serve: s, dyn } = await start([], { createDirectory: false });
    await s.proc.waitForLog((r) => r.msg === "dynamic services directory does not exist; it is picked up when it appears" && r.directory === dyn);
    expect(existsSync(dyn)).toBe(false);
    const before = (await (await fetch(s.url("/health"))).json()) as { dynamic_directories: unknown[] };
    expect(before.dynamic_directories).toEqual([{ directory: dyn, status: "missing", message: `dynamic directory ${dyn} does not exist; it is picked up when it appears` }]);
    await mkdir(dyn);
    await writeFile(join(dyn, "late.yaml"), servicesFile([["late", "late-token-5b9e1c7a3f2d8e46", "role-b"]]));
    await waitFor(async () => (await roleOf(s, "late-token-5b9e1c7a3f2d8e46")) === moto.roleArn("role-b") || undefined, { ...poll, what: "the late directory's service" });
    const after = (await (await fetch(s.url("/health"))).json()) as { dynamic_directories: unknown[] };
    expect(after.dynamic_directories).toEqual([{ directory: dyn, status: "ok" }]);
  });

  test("a new file adds all its services, and /health counts them", async () => {
    const { serve, dyn } = await start();
    await writeFile(join(dyn, "team.yaml"), servicesFile([["one", "dyn-token-one-123456", "role-b"], ["two", "dyn-token-two-123456", "role-c"]]));
    await waitFor(async () => (await roleOf(serve, "dyn-token-one-123456")) === moto.roleArn("role-b"), { ...poll, what: "one" });
    expect(await roleOf(serve, "dyn-token-two-123456")).toBe(moto.roleArn("role-c"));
    const health = (await (await fetch(serve.url("/health"))).json()) as { services: number };
    expect(health.services).toBe(3);
  });

  test("editing a file switches the role at once and retires the old token", async () => {
    const { serve, dyn } = await start();
    const file = join(dyn, "svc.yaml");
    await writeFile(file, servicesFile([["dyn", "dyn-token-old-123456", "role-b"]]));
    await waitFor(async () => (await roleOf(serve, "dyn-token-old-123456")) === moto.roleArn("role-b"), { ...poll, what: "loaded" });
    await writeFile(file, servicesFile([["dyn", "dyn-token-new-123456", "role-c"]]));
    await waitFor(async () => (await roleOf(serve, "dyn-token-new-123456")) === moto.roleArn("role-c"), { ...poll, what: "new role" });
    expect(await roleOf(serve, "dyn-token-old-123456")).toBe(401);
  });

  test("deleting a file removes exactly the services it defined and never the static one", async () => {
    const { serve, dyn } = await start();
    const file = join(dyn, "app.yaml"); // named like the static service, on purpose
    await writeFile(file, servicesFile([["other", "dyn-token-oth-123456", "role-b"]]));
    await waitFor(async () => (await roleOf(serve, "dyn-token-oth-123456")) === moto.roleArn("role-b"), { ...poll, what: "loaded" });
    await unlink(file);
    await waitFor(async () => (await roleOf(serve, "dyn-token-oth-123456")) === 401, { ...poll, what: "removed" });
    expect(await roleOf(serve, STATIC_TOKEN)).toBe(moto.roleArn("role-a"));
  });

  test("a file that becomes invalid is reported in /health and the log while its last good version keeps serving", async () => {
    const { serve, dyn } = await start();
    const file = join(dyn, "svc.yaml");
    await writeFile(file, servicesFile([["dyn", "dyn-token-abc-123456", "role-b"]]));
    await waitFor(async () => (await roleOf(serve, "dyn-token-abc-123456")) === moto.roleArn("role-b"), { ...poll, what: "loaded" });
    await writeFile(file, "services:\n  dyn:\n    auth_token: x\n    assumed_role: { RoleArn: not-an-arn }\n");
    const record = await serve.proc.waitForLog((r) => r.msg === "dynamic services file rejected", 10_000);
    expect(String(record.error)).toContain("RoleArn");
    const health = (await (await fetch(serve.url("/health"))).json()) as { dynamic_files: { file: string; status: string; error?: string }[] };
    expect(health.dynamic_files.find((f) => f.file === file)).toMatchObject({ status: "error" });
    expect(await roleOf(serve, "dyn-token-abc-123456")).toBe(moto.roleArn("role-b"));
  });

  test("a file claiming a static service's name is refused with a warning and the static one keeps working", async () => {
    const { serve, dyn } = await start();
    await writeFile(join(dyn, "clash.yaml"), servicesFile([["app", "dyn-token-cls-123456", "role-b"]]));
    const record = await serve.proc.waitForLog((r) => r.msg === "dynamic service refused", 10_000);
    expect(record.service).toBe("app");
    expect(await roleOf(serve, STATIC_TOKEN)).toBe(moto.roleArn("role-a"));
    expect(await roleOf(serve, "dyn-token-cls-123456")).toBe(401);
  });

  test("hidden files and editor backups are ignored by the documented patterns", async () => {
    const { serve, dyn } = await start();
    await writeFile(join(dyn, ".hidden.yaml"), servicesFile([["hid", "dyn-token-hid-123456", "role-b"]]));
    await writeFile(join(dyn, "x.yaml~"), servicesFile([["bak", "dyn-token-bak-123456", "role-b"]]));
    await writeFile(join(dyn, "real.yaml"), servicesFile([["real", "dyn-token-rea-123456", "role-b"]]));
    await waitFor(async () => (await roleOf(serve, "dyn-token-rea-123456")) === moto.roleArn("role-b"), { ...poll, what: "real" });
    expect(await roleOf(serve, "dyn-token-hid-123456")).toBe(401);
    expect(await roleOf(serve, "dyn-token-bak-123456")).toBe(401);
  });

  test("a config with only dynamic services starts and serves what the directory holds", async () => {
    const dir = join((await start()).serve.dir, "only");
    await serve!.proc.kill();
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "a.yaml"), servicesFile([["solo", "dyn-token-sol-123456", "role-b"]]));
    serve = await startServe(
      [
        "server: { port: {{port}} }",
        sourceYaml(moto.endpoint, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"),
        `dynamic_services: { enabled: true, directories: [{ path: ${dir} }] }`,
      ].join("\n"),
    );
    expect(await roleOf(serve, "dyn-token-sol-123456")).toBe(moto.roleArn("role-b"));
  });

  test("CredProxy's dynamic files load as CredProxy reads them: region from AWS_REGION, an x- name as a service", async () => {
    const source = sourceYaml(moto.endpoint, "AKIAIOSFODNN7EXAMPLE", SOURCE_SECRET).replace("  region: us-east-1\n", "");
    serve = await startServe(
      ["server: { port: {{port}} }", source, "dynamic_services: { enabled: true, reload_interval: 1, directories: [{ path: '{{dir}}/dynamic' }] }"].join("\n"),
      { dirs: ["dynamic"], env: { AWS_REGION: "us-east-1" } },
    );
    await writeFile(join(serve.dir, "dynamic", "x.yaml"), servicesFile([["x-legacy", "x-legacy-token-4b8e2c9f1a7d", "role-c"]]));
    await waitFor(async () => (await roleOf(serve!, "x-legacy-token-4b8e2c9f1a7d")) === moto.roleArn("role-c") || undefined, { ...poll, what: "the x- service" });
    const health = (await (await fetch(serve.url("/health"))).json()) as { checks: Record<string, unknown> };
    expect(Object.keys(health.checks)).toEqual(["x-legacy"]);
  });

  test("a Kubernetes-style mounted file with a ${fromFile:} secret from its secrets_directory loads", async () => {
    const { serve, dyn } = await start(["secrets_directory: {{dir}}/secrets"]);
    const secrets = join(serve.dir, "secrets");
    await mkdir(secrets);
    await writeFile(join(secrets, "token"), "dyn-token-k8s-123456\n");
    // A ConfigMap volume: svc.yaml -> ..data/svc.yaml, ..data -> ..<timestamp>/, all inside the directory.
    await mkdir(join(dyn, "..2026_12_02"));
    await writeFile(join(dyn, "..2026_12_02", "svc.yaml"), servicesFile([["k8s", `\${fromFile:${secrets}/token}`, "role-b"]]));
    await symlink("..2026_12_02", join(dyn, "..data"));
    await symlink("..data/svc.yaml", join(dyn, "svc.yaml"));
    await waitFor(async () => (await roleOf(serve, "dyn-token-k8s-123456")) === moto.roleArn("role-b"), { ...poll, what: "k8s file loaded" });
  });

  test("hostile files are each refused with their reason, leak no secret, and never stall the static service", async () => {
    const { serve, dyn } = await start(["secrets_directory: {{dir}}/secrets"]);
    const secrets = join(serve.dir, "secrets");
    await mkdir(secrets);
    Bun.spawnSync(["mkfifo", join(secrets, "fifo")]);
    const outside = join(serve.dir, "outside-secret.txt");
    await writeFile(outside, "OUTSIDE-SECRET-TEXT-42");
    const svc = (token: string, extra = "") => `services:\n${serviceYaml("evil", token, moto.roleArn("role-b"), extra)}\n`;

    // Each of these stalled or leaked before: expected reason per file.
    const hostile: Record<string, string> = {
      "deep.yaml": "depth limit",
      "wide.yaml": "node limit",
      "big.yaml": "size limit",
      "fifo-ref.yaml": "is not a regular file",
      "outside-ref.yaml": "is not inside the directory's secrets_directory",
      "env-ref.yaml": "only ${fromFile:…} references are allowed here",
      "link.yaml": "outside the directory",
      "fifo.yaml": "is not a regular file",
      "group-writable.yaml": "may be written by its group",
      "sts.yaml": "sts_endpoint: is a connection setting",
      "profile.yaml": "config_file: is a connection setting",
    };
    let storm = true;
    const latencies: number[] = [];
    const failures: string[] = [];
    const requests = (async () => {
      while (storm) {
        const t0 = performance.now();
        const res = await serve.credentials(STATIC_TOKEN).catch((e: Error) => e);
        latencies.push(performance.now() - t0);
        if (res instanceof Error || res.status !== 200) failures.push(res instanceof Error ? res.message : String(res.status));
        else await res.arrayBuffer();
      }
    })();

    await writeFile(join(dyn, "deep.yaml"), `services: {}\nx-deep: ${"{a: ".repeat(3000)}1${"}".repeat(3000)}\n`);
    await writeFile(join(dyn, "wide.yaml"), `services: {}\nx-wide: {${Array.from({ length: 5001 }, (_, i) => `k${i}: 1`).join(", ")}}\n`);
    await writeFile(join(dyn, "big.yaml"), `services: {}\nx-long: "${"x".repeat(70_000)}"\n`);
    await writeFile(join(dyn, "fifo-ref.yaml"), svc(`\${fromFile:${secrets}/fifo}`));
    await writeFile(join(dyn, "outside-ref.yaml"), svc("dyn-token-out-123456", `    source_credentials: {region: us-east-1}\n    x-note: "\${fromFile:${outside}}"`));
    await writeFile(join(dyn, "env-ref.yaml"), svc("${fromEnv:CREDPROXY_CONFIG_FILE}"));
    await symlink(outside, join(dyn, "link.yaml"));
    Bun.spawnSync(["mkfifo", join(dyn, "fifo.yaml")]);
    await writeFile(join(dyn, "group-writable.yaml"), svc("dyn-token-grp-123456"));
    await chmod(join(dyn, "group-writable.yaml"), 0o664);
    await writeFile(join(dyn, "sts.yaml"), svc("dyn-token-sts-123456", `    source_credentials:\n      sts_endpoint: "http://127.0.0.1:9/\${fromFile:${secrets}/fifo}"`));
    await writeFile(join(dyn, "profile.yaml"), svc("dyn-token-prf-123456", "    source_credentials:\n      iam_profile: {profile_name: x, config_file: /tmp/evil-aws-config}"));

    type Files = { dynamic_files: { file: string; status: string; error?: string }[] };
    let healthText = "";
    await waitFor(
      async () => {
        healthText = await (await fetch(serve.url("/health"))).text();
        const files = (JSON.parse(healthText) as Files).dynamic_files;
        return Object.keys(hostile).every((name) => files.some((f) => f.file === join(dyn, name) && f.status === "error"));
      },
      { ...poll, timeoutMs: 20_000, what: "every hostile file reported" },
    );
    storm = false;
    await requests;

    const files = (JSON.parse(healthText) as Files).dynamic_files;
    for (const [name, reason] of Object.entries(hostile)) {
      expect({ name, error: files.find((f) => f.file === join(dyn, name))?.error }).toEqual({ name, error: expect.stringContaining(reason) });
      const logged = serve.proc.logRecords().find((r) => r.msg === "dynamic services file rejected" && r.file === join(dyn, name));
      expect({ name, logged: String(logged?.error) }).toEqual({ name, logged: expect.stringContaining(reason) });
    }
    expect(failures).toEqual([]);
    expect(latencies.length).toBeGreaterThan(0);
    // A liveness bound, not a benchmark: before the caps a single file stalled requests for seconds.
    expect(Math.max(...latencies)).toBeLessThan(1000);
    const everything = healthText + serve.proc.stderrLines.join("\n");
    for (const secret of ["OUTSIDE-SECRET-TEXT-42", SOURCE_SECRET, STATIC_TOKEN]) expect(everything).not.toContain(secret);
    expect(await roleOf(serve, "dyn-token-sts-123456")).toBe(401);
  }, 60_000);
});
