/** The HTTP surface of `credproxy serve`: status codes, keep-alive, metrics, health logging. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startMoto, type PlainMoto } from "../helpers/moto.ts";
import { freePort } from "../helpers/ports.ts";
import { serviceYaml, sourceYaml, startServe, type RunningServe } from "./serve-fixture.ts";

let moto: PlainMoto;
const running: RunningServe[] = [];
const TOKEN = "http-test-token-0123456789abcdef";

beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  for (const s of running) await s.proc.kill();
  await moto?.stop();
});

async function start(extra = "", env: Record<string, string> = {}, args: string[] = []): Promise<RunningServe> {
  const s = await startServe(
    [
      "server: { port: {{port}} }",
      sourceYaml(moto.endpoint, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"),
      "services:",
      serviceYaml("app", TOKEN, moto.roleArn("role-a")),
      extra,
    ].join("\n"),
    { env, args },
  );
  running.push(s);
  return s;
}

let serve: RunningServe;
beforeAll(async () => {
  serve = await start();
});

describe("credproxy serve over HTTP", () => {
  test("a request without Authorization gets CredProxy's 401 JSON", async () => {
    const res = await serve.credentials();
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Authorization header required" });
  });

  test("an unknown token gets 401 and a Bearer-prefixed valid token is not accepted", async () => {
    for (const token of ["not-a-token", `Bearer ${TOKEN}`]) {
      const res = await serve.credentials(token);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: "Invalid authorization token" });
    }
  });

  test("other methods get 405 with Allow, other paths 404, both as JSON", async () => {
    const post = await fetch(serve.url("/v1/credentials"), { method: "POST", headers: { authorization: TOKEN } });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET");
    for (const path of ["/", "/v1/credentials/", "/v2/credentials"]) {
      const res = await fetch(serve.url(path));
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/json");
    }
  });

  test("HEAD /health answers with the status and no body", async () => {
    await serve.credentials(TOKEN); // ensure the service is ready
    const res = await fetch(serve.url("/health"), { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });

  test("keeps the connection alive across requests (HTTP/1.1)", async () => {
    const answers: string[] = [];
    const done = Promise.withResolvers<void>();
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: serve.port,
      socket: {
        data(_s, chunk) {
          answers.push(Buffer.from(chunk).toString());
          if ((answers.join("").match(/HTTP\/1\.1 200/g) ?? []).length === 2) done.resolve();
        },
        close: () => done.resolve(),
      },
    });
    const request = `GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${TOKEN}\r\n\r\n`;
    socket.write(request);
    socket.write(request);
    await done.promise;
    socket.end();
    const all = answers.join("");
    expect(all.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(all.toLowerCase()).not.toContain("connection: close");
  });

  test("/metrics counts requests by result and passes promtool", async () => {
    await serve.credentials(TOKEN);
    await serve.credentials("wrong-token-for-metrics");
    await serve.credentials();
    const text = await (await fetch(serve.url("/metrics"))).text();
    expect(text).toMatch(/credproxy_requests_total\{service_name="app",result="success"\} \d+/);
    expect(text).toMatch(/credproxy_requests_total\{service_name="unknown",result="denied_invalid_token"\} [1-9]/);
    expect(text).toMatch(/credproxy_requests_total\{service_name="unknown",result="denied_missing_token"\} [1-9]/);
    expect(text).toContain('credproxy_credential_refresh_total{service_name="app",result="success"} 1');
    expect(text).toMatch(/credproxy_credential_expiry_timestamp_seconds\{service_name="app"\} \d{10}/);
    expect(text).toContain("credproxy_active_services 1");
    expect(text).toMatch(/credproxy_info\{version="\d+\.\d+\.\d+"\} 1/);
    expect(text).not.toContain(TOKEN);
    const promtool = Bun.which("promtool");
    if (!promtool && !process.env.CI) return console.warn("SKIP promtool check: promtool not installed");
    const proc = Bun.spawn([promtool!, "check", "metrics"], { stdin: new Blob([text]), stderr: "pipe", stdout: "pipe" });
    expect(await new Response(proc.stderr).text()).toBe("");
    expect(await proc.exited).toBe(0);
  });

  test("metrics.prometheus opens a separate listener, bound to 127.0.0.1 by default", async () => {
    const port = await freePort();
    const s = await start(`metrics: { prometheus: { enabled: true, port: ${port} } }`);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("credproxy_info");
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    const listening = await s.proc.waitForLog((r) => r.msg === "credproxy serve listening");
    expect(listening.metrics).toBe(`http://127.0.0.1:${port}/metrics`);
  });

  test("with metrics disabled /metrics is 404 and no listener opens", async () => {
    const port = await freePort();
    const s = await start(`metrics: { prometheus: { enabled: false, port: ${port} } }`);
    expect((await fetch(s.url("/metrics"))).status).toBe(404);
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  test("health checks are logged only when asked to", async () => {
    await fetch(serve.url("/health"));
    expect(serve.proc.logRecords().some((r) => r.msg === "health check")).toBe(false);
    const loud = await start("", { CREDPROXY_LOG_HEALTH_CHECKS: "yes" });
    await fetch(loud.url("/health"));
    await loud.proc.waitForLog((r) => r.msg === "health check", 5000);
  });

  test("--dev writes human-readable lines instead of JSON", async () => {
    const dev = await start("", {}, ["--dev"]);
    const line = await dev.proc.waitForLine(/credproxy serve listening/);
    expect(line.input.startsWith("{")).toBe(false);
    expect(line.input).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO /);
  });
});
