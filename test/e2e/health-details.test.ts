/**
 * /health gives every peer its status code and overall verdict, but the per-service detail
 * (role ARNs, file paths, STS errors) only to this host unless `server.health_details: public`.
 * Real peers: namespace A runs serve on 0.0.0.0; namespace B reaches it over a veth pair.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { scenarioReport } from "../helpers/netns.ts";
import { createNamespacePair } from "../helpers/netns-pair.ts";

const pair = createNamespacePair("hd");
if (!pair.ok) {
  if (process.env.CI) throw new Error(`network namespaces are required in CI: ${pair.why}`);
  console.warn(`SKIP: /health detail test, cannot set up the namespaces: ${pair.why}`);
}
afterAll(() => pair.remove());

type Answer = { status: number; body: string };
type Run = { code: number; out: string; err: string };
interface Report {
  loopback: Answer;
  ownAddress: Answer;
  otherNamespace: Answer;
  otherNamespacePublic: Answer;
  healthcheckLocal: Run;
  healthcheckOther: Run;
  error?: string;
}

describe.skipIf(!pair.ok)("/health detail by peer", () => {
  let report: Report;

  test("the scenario runs to the end", async () => {
    const run = await scenarioReport<Report>(pair.a, "test/e2e/health-details-scenario.ts", { args: [pair.b] });
    report = run.report;
    expect({ error: report.error, stderr: run.stderr }).toEqual({ error: undefined, stderr: "" });
  }, 90_000);

  test("loopback and the host's own address get the per-service detail", () => {
    for (const answer of [report.loopback, report.ownAddress]) {
      expect(answer.status).toBe(503);
      const body = JSON.parse(answer.body) as { checks: Record<string, { role_arn: string; reason?: string }> };
      expect(body.checks.app?.role_arn).toBe("arn:aws:iam::123456789012:role/health-app");
      expect(body.checks.app?.reason).toContain("STS");
    }
  });

  test("a peer from another namespace gets the same status code and only the verdict and the count", () => {
    expect(report.otherNamespace.status).toBe(503);
    expect(JSON.parse(report.otherNamespace.body)).toEqual({ status: "unhealthy", services: 1 });
    expect(report.otherNamespace.body).not.toContain("health-app");
  });

  test("with health_details: public every peer gets the detail", () => {
    expect(report.otherNamespacePublic.status).toBe(503);
    expect(JSON.parse(report.otherNamespacePublic.body)).toHaveProperty("checks.app.role_arn", "arn:aws:iam::123456789012:role/health-app");
  });

  test("credproxy healthcheck names the failing service and why from loopback, and still says unhealthy without the detail", () => {
    expect(report.healthcheckLocal.code).toBe(1);
    expect(report.healthcheckLocal.err).toMatch(/answered 503; not serving: app \(.*STS/);
    expect(report.healthcheckOther.code).toBe(1);
    expect(report.healthcheckOther.err.trim()).toMatch(/^unhealthy: http:\/\/192\.0\.2\.1:\d+\/health answered 503$/);
  });
});
