import { describe, expect, test } from "bun:test";
import { CredproxyMetrics } from "./metrics.ts";

const promtool = Bun.which("promtool");
// CI installs promtool (Debian package prometheus) in .ci/run; elsewhere the check is skipped loudly.
const promtoolTest = promtool || process.env.CI ? test : test.skip;
if (!promtool && !process.env.CI) console.warn("SKIP: promtool not installed (apt-get install prometheus) - exposition lint not checked");

function sample(): CredproxyMetrics {
  const m = new CredproxyMetrics("1.2.3");
  m.recordRequest("app", "success", 0.0004);
  m.recordRequest("app", "success", 0.003);
  m.recordRequest("unknown", "denied_missing_token", 0.0001);
  m.recordRequest("unknown", "denied_invalid_token", 0.0001);
  m.recordRequest("web", "error", 0.2);
  m.recordRefresh("app", "success", new Date("2030-01-01T00:00:00Z"));
  m.recordRefresh("web", "failure");
  m.setActiveServices(2);
  return m;
}

describe("CredproxyMetrics", () => {
  test("counts requests by service and result, with missing and invalid tokens kept apart", async () => {
    const text = await sample().render();
    expect(text).toContain('credproxy_requests_total{service_name="app",result="success"} 2');
    expect(text).toContain('credproxy_requests_total{service_name="unknown",result="denied_missing_token"} 1');
    expect(text).toContain('credproxy_requests_total{service_name="unknown",result="denied_invalid_token"} 1');
    expect(text).toContain('credproxy_request_duration_seconds_count{service_name="app",result="success"} 2');
  });

  test("exposes refreshes, expiry, active services, and build info", async () => {
    const text = await sample().render();
    expect(text).toContain('credproxy_credential_refresh_total{service_name="web",result="failure"} 1');
    expect(text).toContain(`credproxy_credential_expiry_timestamp_seconds{service_name="app"} ${Date.UTC(2030, 0, 1) / 1000}`);
    expect(text).toContain("credproxy_active_services 2");
    expect(text).toContain("credproxy_active_services_total 2");
    expect(text).toContain('credproxy_info{version="1.2.3"} 1');
    expect(text).toContain('credproxy_app_info_info{name="credproxy",version="1.2.3"} 1');
  });

  test("a duration equal to a bucket bound is counted in that bucket, and buckets are cumulative", async () => {
    const m = new CredproxyMetrics("1");
    m.recordRequest("app", "success", 0.001);
    m.recordRequest("app", "success", 0.0011);
    m.recordRequest("app", "success", 60);
    const text = await m.render();
    expect(text).toContain('credproxy_request_duration_seconds_bucket{service_name="app",result="success",le="0.0005"} 0');
    expect(text).toContain('credproxy_request_duration_seconds_bucket{service_name="app",result="success",le="0.001"} 1');
    expect(text).toContain('credproxy_request_duration_seconds_bucket{service_name="app",result="success",le="0.0025"} 2');
    expect(text).toContain('credproxy_request_duration_seconds_bucket{service_name="app",result="success",le="10"} 2');
    expect(text).toContain('credproxy_request_duration_seconds_bucket{service_name="app",result="success",le="+Inf"} 3');
    expect(text).toContain('credproxy_request_duration_seconds_count{service_name="app",result="success"} 3');
  });

  test("forgets the expiry series of a removed service", async () => {
    const m = sample();
    m.forgetService("app");
    expect(await m.render()).not.toContain('credproxy_credential_expiry_timestamp_seconds{service_name="app"}');
  });

  promtoolTest("the exposition passes promtool check metrics", async () => {
    expect(promtool, "promtool is required in CI (Debian package prometheus)").toBeTruthy();
    const proc = Bun.spawn([promtool!, "check", "metrics"], { stdin: new Blob([await sample().render()]), stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(out + err).toBe("");
    expect(code).toBe(0);
  });
});
