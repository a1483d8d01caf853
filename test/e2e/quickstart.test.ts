/**
 * The README's quick start: `npm start` serves examples/quickstart/config.yaml with the
 * default chain as the source. On a machine without AWS credentials it must still start and
 * explain itself. (Run on a copy with free ports; the default chain's IMDS step is off.)
 */
import { describe, expect, test } from "bun:test";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, runCredproxy } from "../helpers/binary.ts";
import { waitFor } from "../helpers/wait.ts";
import { startServe } from "./serve-fixture.ts";

describe("the quick start", () => {
  test("with no AWS credentials it starts, /health says which service fails and why, and a request gets a JSON 503 with the fix", async () => {
    const original = await readFile(join(REPO_ROOT, "examples/quickstart/config.yaml"), "utf8");
    // One port only, so `npm start` cannot fail on a second one that is taken (9090 often is).
    expect(original.match(/port:/g)).toHaveLength(1);
    const yaml = original.replace("port: 1338", "port: {{port}}");
    const serve = await startServe(yaml);
    try {
      type Report = { checks: { quickstart: { status: string; reason: string; code: string } } };
      // The first attempt runs in the background right after start; wait for its verdict.
      const report = await waitFor(async () => {
        const health = await fetch(serve.url("/health"));
        expect(health.status).toBe(503);
        const r = (await health.json()) as Report;
        return r.checks.quickstart.status === "failing" ? r : undefined;
      }, { timeoutMs: 10_000, what: "the first attempt to fail" });
      expect(report.checks.quickstart).toMatchObject({ code: "E_SOURCE_CREDENTIALS" });
      expect(report.checks.quickstart.reason).toContain("default credential chain");

      const res = await serve.credentials("quickstart-token-change-me");
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: string; hint: string; service: string };
      expect(body.service).toBe("quickstart");
      expect(body.error).toContain("default credential chain found no credentials");
      expect(body.hint).toContain("AWS_ACCESS_KEY_ID");
      expect(await (await fetch(serve.url("/metrics"))).text()).toContain("credproxy_active_services 1");
    } finally {
      await serve.proc.kill();
    }
  });

  test("every config under examples/ passes credproxy validate", async () => {
    const files: string[] = [];
    for (const entry of await readdir(join(REPO_ROOT, "examples"), { recursive: true })) {
      if (/(^|\/)config\.(ya?ml|json)$/.test(entry)) files.push(join(REPO_ROOT, "examples", entry));
    }
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const r = await runCredproxy(["validate", file]);
      expect({ file, code: r.code, stderr: r.stderr }).toEqual({ file, code: 0, stderr: "" });
    }
  });
});
