/** `credproxy healthcheck`: the probe a FROM-scratch image's HEALTHCHECK runs. */
import { afterAll, describe, expect, test } from "bun:test";
import { runCredproxy } from "../helpers/binary.ts";
import { freePort } from "../helpers/ports.ts";
import { startServe } from "./serve-fixture.ts";

const servers: { stop(force?: boolean): unknown }[] = [];
afterAll(() => servers.forEach((s) => s.stop(true)));

function server(fetch: (req: Request) => Response | Promise<Response>) {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch });
  servers.push(s);
  return `http://127.0.0.1:${s.port}/health`;
}

describe("credproxy healthcheck", () => {
  test("exits 0 when the URL answers 2xx", async () => {
    const r = await runCredproxy(["healthcheck", server(() => new Response("{}"))]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("healthy");
    expect(r.stderr).toBe("");
  });

  test("exits 1 with one line naming the failing services when /health answers 503", async () => {
    const body = { status: "unhealthy", checks: { app: { serving: false, reason: "sts down" }, web: { serving: true } } };
    const r = await runCredproxy(["healthcheck", server(() => Response.json(body, { status: 503 }))]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("answered 503; not serving: app (sts down)");
  });

  test("a URL without a scheme means http://, as curl reads it", async () => {
    const url = server(() => new Response("{}"));
    const r = await runCredproxy(["healthcheck", url.replace("http://", "")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`healthy: ${url} answered 200`);
  });

  test("exits 1 when nothing listens", async () => {
    const port = await freePort();
    const r = await runCredproxy(["healthcheck", `http://127.0.0.1:${port}/health`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("connection refused");
  });

  test("exits 1 within --timeout when the server never answers", async () => {
    const url = server(() => new Promise<Response>(() => {}));
    // Without a working timeout this would hang until runCredproxy's own limit and fail.
    const r = await runCredproxy(["healthcheck", url, "--timeout", "0.5"], { timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("did not answer within 0.5 s");
  });

  test("a bad URL or timeout is a usage error (exit 2)", async () => {
    expect((await runCredproxy(["healthcheck", "not a url"])).code).toBe(2);
    expect((await runCredproxy(["healthcheck", "--timeout", "soon"])).code).toBe(2);
  });

  test("probes a real credproxy serve on its default /health path", async () => {
    const serve = await startServe(
      "server: { port: {{port}} }\naws_defaults: { region: us-east-1 }\ndynamic_services: { enabled: true, directories: [{ path: '{{dir}}/dyn' }] }\n",
    );
    try {
      const r = await runCredproxy(["healthcheck", serve.url("/health")]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    } finally {
      await serve.proc.kill();
    }
  });
});
