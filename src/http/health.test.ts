import { describe, expect, test } from "bun:test";
import { healthReport, publicHealth, scrubSecrets } from "./health.ts";

const NOW = Date.parse("2030-01-01T00:00:00Z");
const later = new Date(NOW + 3600_000);
const earlier = new Date(NOW - 1000);
const svc = (name: string, status: Parameters<typeof healthReport>[0][number]["status"]) => ({
  name,
  roleArn: `arn:aws:iam::123456789012:role/${name}`,
  origin: "static",
  status,
});

describe("healthReport", () => {
  test("is healthy when every service holds unexpired credentials", () => {
    const r = healthReport([svc("a", { state: "ready", serving: true, expiresAt: later, consecutiveFailures: 0 })]);
    expect(r).toMatchObject({ status: "healthy", services: 1, checks: { a: { status: "ready", serving: true } } });
  });

  test("a failing service that still serves its last good credentials keeps the whole healthy", () => {
    const r = healthReport([svc("a", { state: "failing", serving: true, expiresAt: later, reason: "sts down", consecutiveFailures: 2 })]);
    expect(r.status).toBe("healthy");
    expect(r.checks.a).toMatchObject({ status: "failing", serving: true, reason: "sts down" });
  });

  test("is unhealthy and says why when a service has nothing valid to serve", () => {
    const r = healthReport(
      [
        svc("a", { state: "ready", serving: true, expiresAt: later, consecutiveFailures: 0 }),
        svc("b", { state: "failing", serving: false, reason: "no credentials", code: "E_SOURCE_CREDENTIALS", nextAttemptAt: later, consecutiveFailures: 1 }),
        svc("c", { state: "failing", serving: false, expiresAt: earlier, reason: "expired", consecutiveFailures: 5 }),
      ],
    );
    expect(r.status).toBe("unhealthy");
    expect(r.checks.b).toMatchObject({ serving: false, code: "E_SOURCE_CREDENTIALS", next_attempt_at: later.toISOString() });
    expect(r.checks.c?.serving).toBe(false);
  });

  test("a service still warming up is not yet serving, and says so", () => {
    const r = healthReport([svc("a", { state: "pending", serving: false, consecutiveFailures: 0 })]);
    expect(r.status).toBe("unhealthy");
    expect(r.checks.a?.reason).toBe("fetching the first credentials");
  });

  test("with no services at all (dynamic only, nothing loaded yet) it is healthy", () => {
    expect(healthReport([], [])).toEqual({ status: "healthy", services: 0, checks: {}, dynamic_files: [] });
  });

  test("a service refused for a clashing auth_token or relative_uri is reported without the service that holds it", () => {
    const r = healthReport([], [
      {
        file: "/d/a.yaml",
        status: "ok",
        services: [],
        refused: [
          { name: "dyn", clash: "auth_token", reason: 'its auth_token is already used by service "payments"' },
          { name: "dyn2", clash: "relative_uri", reason: 'its relative_uri is already used by service "payments"' },
          { name: "app", clash: "name", reason: "the name is already used by a static service" },
        ],
      },
    ]);
    expect(JSON.stringify(r)).not.toContain("payments");
    expect(r.dynamic_files?.[0]?.refused).toEqual([
      { name: "dyn", clash: "auth_token", reason: "its auth_token is not unique among the configured services" },
      { name: "dyn2", clash: "relative_uri", reason: "its relative_uri is not unique among the configured services" },
      { name: "app", clash: "name", reason: "the name is already used by a static service" },
    ]);
  });

  test("key ids and secret-shaped values in reasons and file errors show at most their last 4 characters", () => {
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const r = healthReport(
      [svc("a", { state: "failing", serving: false, reason: `STS said: key AKIAIOSFODNN7EXAMPLE with ${secret} is invalid`, consecutiveFailures: 1 })],
      [{ file: "/d/b.yaml", status: "error", services: [], error: `bad value ASIAXYZXYZXYZXYZ1234` }],
    );
    const text = JSON.stringify(r);
    expect(text).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(text).not.toContain(secret);
    expect(text).not.toContain("ASIAXYZXYZXYZXYZ1234");
    expect(r.checks.a?.reason).toBe("STS said: key …MPLE with …EKEY is invalid");
    expect(r.dynamic_files?.[0]?.error).toBe("bad value …1234");
  });

  test("leaves ARNs, paths and ordinary words alone", () => {
    const text = "sts:AssumeRole on arn:aws:iam::123456789012:role/team/dev-application-role failed: AccessDenied (/credproxy/dynamic/services.yaml)";
    expect(scrubSecrets(text)).toBe(text);
  });

  test("publicHealth keeps the verdict and the count only", () => {
    const r = healthReport([svc("a", { state: "pending", serving: false, consecutiveFailures: 0 })]);
    expect(publicHealth(r)).toEqual({ status: "unhealthy", services: 1 });
  });
});
