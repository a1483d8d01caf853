/** Dynamic service files, end to end: the compiled binary watching a real directory. */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, unlink, writeFile } from "node:fs/promises";
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

async function start(): Promise<{ serve: RunningServe; dyn: string }> {
  serve = await startServe(
    [
      "server: { port: {{port}} }",
      sourceYaml(moto.endpoint, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"),
      "services:",
      serviceYaml("app", STATIC_TOKEN, moto.roleArn("role-a")),
      "dynamic_services:",
      "  enabled: true",
      "  reload_interval: 1",
      "  directories:",
      "    - path: {{dir}}/dynamic",
      "      include_patterns: ['.*\\.ya?ml$']",
      "      exclude_patterns: ['\\..*', '.*~$']",
    ].join("\n"),
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
});
