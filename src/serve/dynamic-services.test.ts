import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, unlink, writeFile, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServiceSpec } from "../config/types.ts";
import { createLogger, silentLogger } from "../log.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { DynamicServices, matches } from "./dynamic-services.ts";
import { ServiceRegistry, type ServiceCredentials } from "./service-registry.ts";

// A stand-in for the config loader: {"name": "token"} per file, or throw on "invalid".
function load(file: string, text: string): ServiceSpec[] {
  const parsed = JSON.parse(text) as Record<string, string>;
  return Object.entries(parsed).map(([name, token]) => ({
    name,
    authToken: token,
    region: "us-east-1",
    source: { kind: "default-chain" },
    assumeRole: { RoleArn: "arn:aws:iam::123456789012:role/r", RoleSessionName: "credproxy", DurationSeconds: 3600 },
    origin: { kind: "dynamic", file },
  }));
}

const creds = (): ServiceCredentials => ({
  get: () => Promise.reject(new Error("unused")),
  peek: () => undefined,
  status: () => ({ state: "pending", serving: false, consecutiveFailures: 0 }),
  start: () => {},
  stop: () => {},
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(include: string[] = [], exclude: string[] = []) {
  const dir = await mkdtemp(join(tmpdir(), "credproxy-dyn-"));
  const registry = new ServiceRegistry({ factory: creds, logger: silentLogger });
  registry.addStatic([{ ...load("", '{"app":"tok-static-12345"}')[0]!, origin: { kind: "static" } }]);
  const dyn = new DynamicServices({
    config: { enabled: true, directories: [{ path: dir, include, exclude, allowGroupWritable: false }], reloadIntervalSeconds: 1 },
    registry,
    load,
    logger: silentLogger,
  });
  cleanups.push(() => dyn.stop(), () => rm(dir, { recursive: true, force: true }));
  return { dir, registry, dyn };
}

const names = (r: ServiceRegistry) => r.list().map((e) => e.spec.name).sort();
const opts = { timeoutMs: 5000, intervalMs: 25 };

describe("DynamicServices", () => {
  test("loads the files present at start, several services per file", async () => {
    const { dir, registry, dyn } = await setup();
    await writeFile(join(dir, "team.yaml"), '{"one":"tok-one-1234567","two":"tok-two-1234567"}');
    await dyn.start();
    expect(names(registry)).toEqual(["app", "one", "two"]);
  });

  test("a new file adds its services after the debounce", async () => {
    const { dir, registry, dyn } = await setup();
    await dyn.start();
    await writeFile(join(dir, "new.json"), '{"dyn":"tok-dyn-1234567"}');
    await waitFor(() => registry.get("dyn"), { ...opts, what: "dyn added" });
    expect(registry.byToken("tok-dyn-1234567")?.spec.name).toBe("dyn");
  });

  test("deleting a file removes exactly its services, never a static one with the same stem", async () => {
    const { dir, registry, dyn } = await setup();
    await writeFile(join(dir, "app.yaml"), '{"other":"tok-oth-1234567"}');
    await dyn.start();
    expect(names(registry)).toEqual(["app", "other"]);
    await unlink(join(dir, "app.yaml"));
    await waitFor(() => !registry.get("other"), { ...opts, what: "other removed" });
    expect(names(registry)).toEqual(["app"]);
  });

  test("a file that becomes invalid keeps its last good version serving and reports the error", async () => {
    const { dir, registry, dyn } = await setup();
    await writeFile(join(dir, "svc.yaml"), '{"dyn":"tok-dyn-1234567"}');
    await dyn.start();
    await writeFile(join(dir, "svc.yaml"), "{not json");
    await waitFor(() => dyn.files()[0]?.status === "error", { ...opts, what: "error reported" });
    expect(registry.byToken("tok-dyn-1234567")?.spec.name).toBe("dyn");
    expect(dyn.files()[0]).toMatchObject({ status: "error", services: ["dyn"] });
  });

  test("an invalid new file adds nothing and does not disturb the others", async () => {
    const { dir, registry, dyn } = await setup();
    await writeFile(join(dir, "good.yaml"), '{"dyn":"tok-dyn-1234567"}');
    await writeFile(join(dir, "bad.yaml"), "{oops");
    await dyn.start();
    expect(names(registry)).toEqual(["app", "dyn"]);
    expect(dyn.files().find((f) => f.file.endsWith("bad.yaml"))?.status).toBe("error");
  });

  test("a rejected file is loaded once what it refers to appears, without the file being edited", async () => {
    const { dir, registry } = await setup();
    const secret = join(dir, "secret.txt"); // not a service file name: the directory ignores it
    const dyn = new DynamicServices({
      config: { enabled: true, directories: [{ path: dir, include: [], exclude: [], allowGroupWritable: false }], reloadIntervalSeconds: 1 },
      registry,
      // Stands in for a ${fromFile:} reference to a secret that does not exist yet.
      load: (file, text, _dir, onRead) => {
        onRead(secret);
        if (!existsSync(secret)) throw new Error("secret.txt does not exist");
        return load(file, text);
      },
      logger: silentLogger,
    });
    cleanups.push(() => dyn.stop());
    await writeFile(join(dir, "svc.yaml"), '{"dyn":"tok-dyn-1234567"}');
    await dyn.start();
    expect(dyn.files()[0]?.status).toBe("error");
    await writeFile(secret, "s");
    await dyn.reconcile({ path: dir, include: [], exclude: [], allowGroupWritable: false });
    expect(registry.byToken("tok-dyn-1234567")?.spec.name).toBe("dyn");
  });

  test("a rejected file is parsed again only when it or a file it referred to changes", async () => {
    const { dir, registry } = await setup();
    const directory = { path: dir, include: [], exclude: [], allowGroupWritable: false };
    let parses = 0;
    const dyn = new DynamicServices({
      config: { enabled: true, directories: [directory], reloadIntervalSeconds: 1 },
      registry,
      load: (file, text) => {
        parses++;
        return load(file, text);
      },
      logger: silentLogger,
    });
    cleanups.push(() => dyn.stop());
    await writeFile(join(dir, "bad.yaml"), "{oops");
    await dyn.start();
    await dyn.reconcile(directory);
    await dyn.reconcile(directory);
    expect(parses).toBe(1);
    await writeFile(join(dir, "bad.yaml"), '{"dyn":"tok-dyn-1234567"}');
    await dyn.reconcile(directory);
    expect(parses).toBe(2);
    expect(registry.byToken("tok-dyn-1234567")?.spec.name).toBe("dyn");
  });

  test("an atomic save (write to a temp name, rename over) is picked up as an edit", async () => {
    const { dir, registry, dyn } = await setup();
    await writeFile(join(dir, "svc.yaml"), '{"dyn":"tok-old-1234567"}');
    await dyn.start();
    await writeFile(join(dir, ".svc.yaml.tmp"), '{"dyn":"tok-new-1234567"}');
    await rename(join(dir, ".svc.yaml.tmp"), join(dir, "svc.yaml"));
    await waitFor(() => registry.byToken("tok-new-1234567"), { ...opts, what: "new token" });
    expect(registry.byToken("tok-old-1234567")).toBeUndefined();
  });

  test("a missing directory is not created: it is a warning, shown by directories(), and taken up when it appears", async () => {
    const { dir: parent, registry } = await setup();
    const dir = join(parent, "later");
    const warnings: string[] = [];
    const logger = createLogger({ level: "info", write: (line) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
    const dyn = new DynamicServices({ config: { enabled: true, directories: [{ path: dir, include: [], exclude: [], allowGroupWritable: false }], reloadIntervalSeconds: 1 }, registry, load, logger });
    cleanups.push(() => dyn.stop());
    await dyn.start();
    expect(existsSync(dir)).toBe(false);
    expect(warnings).toContain("dynamic services directory does not exist; it is picked up when it appears");
    expect(dyn.directories()).toEqual([{ directory: dir, status: "missing", message: `dynamic directory ${dir} does not exist; it is picked up when it appears` }]);

    await mkdir(dir);
    await writeFile(join(dir, "svc.yaml"), '{"late":"tok-late-1234567"}');
    await waitFor(() => registry.byToken("tok-late-1234567"), { timeoutMs: 10_000, what: "the late directory's service" });
    expect(dyn.directories()).toEqual([{ directory: dir, status: "ok" }]);
    expect(warnings).toContain("dynamic services directory appeared");
  });

  test("a directory every user may write is named in a warning", async () => {
    const { dir, registry } = await setup();
    await chmod(dir, 0o777);
    const warnings: string[] = [];
    const logger = createLogger({ level: "warn", write: (line) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
    const dyn = new DynamicServices({ config: { enabled: true, directories: [{ path: dir, include: [], exclude: [], allowGroupWritable: false }], reloadIntervalSeconds: 1 }, registry, load, logger });
    cleanups.push(() => dyn.stop());
    await dyn.start();
    expect(warnings).toContain("dynamic services directory is writable by every user; run chmod o-w on it");
  });

  test("only YAML and JSON files that pass the name patterns are loaded", async () => {
    const { dir, registry, dyn } = await setup(["^dev-"], ["\\..*", ".*~$"]);
    await writeFile(join(dir, "dev-a.yaml"), '{"a":"tok-a-123456789"}');
    await writeFile(join(dir, "prod-b.yaml"), '{"b":"tok-b-123456789"}');
    await writeFile(join(dir, ".dev-c.yaml"), '{"c":"tok-c-123456789"}');
    await writeFile(join(dir, "dev-d.txt"), '{"d":"tok-d-123456789"}');
    await dyn.start();
    expect(names(registry)).toEqual(["a", "app"]);
  });
});

describe("matches()", () => {
  const dir = (include: string[], exclude: string[]) => ({ path: "/x", include, exclude, allowGroupWritable: false });
  test("matches patterns against the file name, anchored at its start like Python's re.match", () => {
    expect(matches("dev-a.yaml", dir(["dev-"], []), silentLogger)).toBe(true);
    expect(matches("my-dev-a.yaml", dir(["dev-"], []), silentLogger)).toBe(false);
  });
  test("patterns are read as Python reads them: \\Z ends the name, (?i) ignores case", () => {
    expect(matches("app.yaml", dir(["app\\.yaml\\Z"], []), silentLogger)).toBe(true);
    expect(matches("app.yamlZ.yaml", dir(["app\\.yaml\\Z"], []), silentLogger)).toBe(false);
    expect(matches("DEV-a.yaml", dir(["(?i)dev-"], []), silentLogger)).toBe(true);
  });
  test("exclude wins over include", () => {
    expect(matches("dev-a.yaml", dir(["dev-"], ["dev-a"]), silentLogger)).toBe(false);
  });
  test("an invalid pattern is ignored rather than matching everything", () => {
    expect(matches("a.yaml", dir(["("], []), silentLogger)).toBe(false);
  });
});
