import { describe, expect, test } from "bun:test";
import type { ServiceSpec } from "../config/types.ts";
import { silentLogger } from "../log.ts";
import { ServiceRegistry, type ServiceCredentials } from "./service-registry.ts";

function spec(name: string, token: string, origin: ServiceSpec["origin"], role = "role-a"): ServiceSpec {
  return {
    name,
    authToken: token,
    region: "us-east-1",
    source: { kind: "default-chain" },
    assumeRole: { RoleArn: `arn:aws:iam::123456789012:role/${role}`, RoleSessionName: "credproxy", DurationSeconds: 3600 },
    origin,
  };
}

function fakeFactory() {
  const created: { spec: ServiceSpec; stopped: boolean }[] = [];
  const factory = (s: ServiceSpec): ServiceCredentials => {
    const record = { spec: s, stopped: false };
    created.push(record);
    return {
      get: () => Promise.reject(new Error("not used")),
      peek: () => undefined,
      status: () => ({ state: "pending", serving: false, consecutiveFailures: 0 }),
      start: () => {},
      stop: () => {
        record.stopped = true;
      },
    };
  };
  return { factory, created };
}

const STATIC = { kind: "static" } as const;
const file = (f: string) => ({ kind: "dynamic", file: f }) as const;

describe("ServiceRegistry", () => {
  test("selects a service by its exact token", () => {
    const { factory } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    r.addStatic([spec("app", "tok-app-123456", STATIC), spec("web", "tok-web-123456", STATIC)]);
    expect(r.byToken("tok-web-123456")?.spec.name).toBe("web");
    expect(r.byToken("tok-nope")).toBeUndefined();
    expect(r.size).toBe(2);
  });

  test("a dynamic file cannot take the name of a static service", () => {
    const { factory } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    r.addStatic([spec("app", "tok-app-123456", STATIC)]);
    const change = r.applyFile("/d/a.yaml", [spec("app", "tok-other-1234", file("/d/a.yaml"))]);
    expect(change.refused.map((x) => x.name)).toEqual(["app"]);
    expect(r.byToken("tok-app-123456")?.spec.origin).toEqual(STATIC);
    expect(r.byToken("tok-other-1234")).toBeUndefined();
  });

  test("a dynamic file cannot reuse another service's token", () => {
    const { factory } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    r.addStatic([spec("app", "tok-app-123456", STATIC)]);
    const change = r.applyFile("/d/a.yaml", [spec("dyn", "tok-app-123456", file("/d/a.yaml"))]);
    expect(change.refused[0]).toMatchObject({ name: "dyn", clash: "auth_token" });
    expect(change.refused[0]?.reason).toContain('service "app"'); // for the log; /health drops the owner
    expect(r.get("dyn")).toBeUndefined();
  });

  test("the first file to claim a name keeps it", () => {
    const { factory } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    r.applyFile("/d/a.yaml", [spec("dyn", "tok-a-12345678", file("/d/a.yaml"))]);
    const change = r.applyFile("/d/b.yaml", [spec("dyn", "tok-b-12345678", file("/d/b.yaml"))]);
    expect(change.refused).toHaveLength(1);
    expect(r.get("dyn")?.spec.origin).toEqual(file("/d/a.yaml"));
  });

  test("editing a service's role gives it a fresh credential cache; an untouched one keeps its own", () => {
    const { factory, created } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    const f = file("/d/a.yaml");
    r.applyFile("/d/a.yaml", [spec("one", "tok-one-1234567", f), spec("two", "tok-two-1234567", f)]);
    const twoBefore = r.get("two")!.credentials;
    const change = r.applyFile("/d/a.yaml", [spec("one", "tok-one-1234567", f, "role-b"), spec("two", "tok-two-1234567", f)]);
    expect(change.updated).toEqual(["one"]);
    expect(created.filter((c) => c.spec.name === "one").map((c) => c.stopped)).toEqual([true, false]);
    expect(r.get("one")!.spec.assumeRole.RoleArn).toEndWith("role/role-b");
    expect(r.get("two")!.credentials).toBe(twoBefore);
  });

  test("a changed token stops working at once and the new one works", () => {
    const { factory } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    const f = file("/d/a.yaml");
    r.applyFile("/d/a.yaml", [spec("one", "tok-old-1234567", f)]);
    r.applyFile("/d/a.yaml", [spec("one", "tok-new-1234567", f)]);
    expect(r.byToken("tok-old-1234567")).toBeUndefined();
    expect(r.byToken("tok-new-1234567")?.spec.name).toBe("one");
  });

  test("removing a file removes exactly the services it defined, whatever the file is called", () => {
    const { factory, created } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    r.addStatic([spec("app", "tok-app-123456", STATIC)]);
    // CredProxy removed by file stem: deleting app.yaml removed the static "app".
    r.applyFile("/d/app.yaml", [spec("other", "tok-oth-123456", file("/d/app.yaml")), spec("more", "tok-mor-123456", file("/d/app.yaml"))]);
    expect(r.removeFile("/d/app.yaml").sort()).toEqual(["more", "other"]);
    expect(r.get("app")).toBeDefined();
    expect(r.byToken("tok-oth-123456")).toBeUndefined();
    expect(created.filter((c) => c.spec.name !== "app").every((c) => c.stopped)).toBe(true);
  });

  test("a service dropped from a file is removed while the file's others stay", () => {
    const { factory } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    const f = file("/d/a.yaml");
    r.applyFile("/d/a.yaml", [spec("one", "tok-one-1234567", f), spec("two", "tok-two-1234567", f)]);
    const change = r.applyFile("/d/a.yaml", [spec("two", "tok-two-1234567", f)]);
    expect(change.removed).toEqual(["one"]);
    expect(r.get("two")).toBeDefined();
  });

  test("selects a service by its exact relative URI, and a token-less service by nothing else", () => {
    const { factory } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    const path = "/v2/credentials/3f9c2b7e8a1d4c6f9e0b5a7d2c4e6f81";
    r.addStatic([{ ...spec("pathy", "unused", STATIC), authToken: undefined, relativeUri: path }, spec("app", "tok-app-123456", STATIC)]);
    expect(r.byRelativeUri(path)?.spec.name).toBe("pathy");
    expect(r.byRelativeUri(path + "/")).toBeUndefined();
    expect(r.byRelativeUri("/v2/credentials/3f9c2b7e8a1d4c6f9e0b5a7d2c4e6f8")).toBeUndefined();
    expect(r.byToken("unused")).toBeUndefined();
  });

  test("a dynamic file cannot reuse another service's relative URI", () => {
    const { factory } = fakeFactory();
    const r = new ServiceRegistry({ factory, logger: silentLogger });
    const path = "/v2/credentials/3f9c2b7e8a1d4c6f9e0b5a7d2c4e6f81";
    r.addStatic([{ ...spec("app", "tok-app-123456", STATIC), relativeUri: path }]);
    const change = r.applyFile("/d/a.yaml", [{ ...spec("dyn", "tok-dyn-123456", file("/d/a.yaml")), relativeUri: path }]);
    expect(change.refused[0]).toEqual({ name: "dyn", clash: "relative_uri", reason: 'its relative_uri is already used by service "app"' });
    expect(r.byRelativeUri(path)?.spec.name).toBe("app");
  });

  test("reports every change with the current size and the removed names", () => {
    const { factory } = fakeFactory();
    const seen: [number, readonly string[]][] = [];
    const r = new ServiceRegistry({ factory, logger: silentLogger, onChange: (reg, removed) => seen.push([reg.size, removed]) });
    r.addStatic([spec("app", "tok-app-123456", STATIC)]);
    r.applyFile("/d/a.yaml", [spec("dyn", "tok-dyn-123456", file("/d/a.yaml"))]);
    r.removeFile("/d/a.yaml");
    expect(seen).toEqual([[1, []], [2, []], [1, ["dyn"]]]);
  });
});
