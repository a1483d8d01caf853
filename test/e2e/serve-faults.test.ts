/**
 * Fault cases of `credproxy serve`, with a gate in front of moto_server that counts
 * AssumeRole calls and can delay, fail or shorten them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { startMoto, type PlainMoto } from "../helpers/moto.ts";
import { startStsGate, type Gate } from "../helpers/sts-gate.ts";
import { waitFor } from "../helpers/wait.ts";
import { serviceYaml, sourceYaml, startServe, type RunningServe } from "./serve-fixture.ts";

let moto: PlainMoto;
let gate: Gate;
let serve: RunningServe | undefined;
const TOKEN = "fault-test-token-0123456789abcdef";
const KEY = "AKIAIOSFODNN7EXAMPLE";
const SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY";

beforeAll(async () => {
  moto = await startMoto();
  gate = await startStsGate(moto.endpoint);
});
afterEach(async () => {
  await serve?.proc.kill();
  serve = undefined;
  gate.reset();
});
afterAll(async () => {
  await gate?.stop();
  await moto?.stop();
});

function config(credentials = "", role = "role-a", extra = ""): string {
  return [
    "server: { port: {{port}} }",
    credentials,
    sourceYaml(gate.endpoint, KEY, SECRET),
    "services:",
    serviceYaml("app", TOKEN, moto.roleArn(role), extra),
  ].join("\n");
}

type Creds = { AccessKeyId: string; Expiration: string };

describe("credproxy serve under STS faults", () => {
  test("20 concurrent cold requests make exactly one STS call and all get the same credentials", async () => {
    gate.delayMs = 700; // keep the first AssumeRole in flight while the requests arrive
    serve = await startServe(config());
    const bodies = await Promise.all(Array.from({ length: 20 }, async () => (await (await serve!.credentials(TOKEN)).json()) as Creds));
    expect(gate.assumeRoleCalls).toBe(1);
    expect(new Set(bodies.map((b) => b.AccessKeyId)).size).toBe(1);
  });

  test("every AssumeRole parameter in the config reaches STS", async () => {
    serve = await startServe(
      config(
        "",
        "role-a",
        [
          "      RoleSessionName: param-check",
          "      DurationSeconds: 1800",
          "      ExternalId: ext-id-42",
          '      Policy: \'{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}\'',
          "      PolicyArns: [{ arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }]",
          "      Tags: [{ Key: team, Value: blue }]",
          "      TransitiveTagKeys: [team]",
          "      SourceIdentity: alice",
        ].join("\n"),
      ),
    );
    expect((await serve.credentials(TOKEN)).status).toBe(200);
    const call = gate.calls[0]!;
    expect(call).toMatchObject({ roleSessionName: "param-check", durationSeconds: 1800, externalId: "ext-id-42", sourceIdentity: "alice" });
    expect(call.tags).toEqual({ team: "blue" });
    expect(call.transitiveTagKeys).toEqual(["team"]);
    expect(call.policy).toContain('"s3:*"');
    expect(call.params["PolicyArns.member.1.arn"]).toBe("arn:aws:iam::aws:policy/ReadOnlyAccess");
  });

  test("credentials are refreshed in the background ahead of expiry, without any request", async () => {
    gate.ttlSeconds = 24; // refresh lead = half the lifetime = 12 s
    serve = await startServe(config("credentials: { refresh_buffer_seconds: 5, retry_delay: 1 }"));
    const first = (await (await serve.credentials(TOKEN)).json()) as Creds;
    await gate.waitForAssumeRoleCalls(2, 20_000);
    await waitFor(async () => ((await (await serve!.credentials(TOKEN)).json()) as Creds).AccessKeyId !== first.AccessKeyId, {
      timeoutMs: 5000,
      what: "new credentials served",
    });
    const second = (await (await serve.credentials(TOKEN)).json()) as Creds;
    expect(Date.parse(second.Expiration) - Date.now()).toBeGreaterThanOrEqual(5000);
  }, 40_000);

  test("when STS fails it serves the last good credentials while valid, then a JSON 503, and recovers by itself", async () => {
    gate.ttlSeconds = 24;
    serve = await startServe(config("credentials: { refresh_buffer_seconds: 5, retry_delay: 1 }"));
    const good = (await (await serve.credentials(TOKEN)).json()) as Creds;
    gate.mode = "error503";
    await gate.until((g) => g.calls.some((c) => c.outcome === "error503"), 20_000, "a failed refresh");
    const stale = await serve.credentials(TOKEN);
    expect(stale.status).toBe(200);
    expect(((await stale.json()) as Creds).AccessKeyId).toBe(good.AccessKeyId);

    const failed = await waitFor(async () => {
      const res = await serve!.credentials(TOKEN);
      return res.status === 503 ? res : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, what: "a 503 once the credentials expired" });
    const body = (await failed.json()) as { error: string; code: string; service: string };
    expect(failed.headers.get("content-type")).toBe("application/json");
    expect(failed.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(body.service).toBe("app");
    expect(body.code).toBe("E_ASSUME_ROLE");
    expect(body.error).toContain("app");
    expect(JSON.stringify(body)).not.toContain(SECRET);
    const health = await fetch(serve.url("/health"));
    expect(health.status).toBe(503);
    expect(((await health.json()) as { checks: { app: { status: string; reason: string } } }).checks.app).toMatchObject({ status: "failing" });

    gate.mode = "up";
    const recovered = await waitFor(async () => {
      const res = await serve!.credentials(TOKEN);
      return res.status === 200 ? ((await res.json()) as Creds) : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100, what: "recovery" });
    expect(recovered.AccessKeyId).not.toBe(good.AccessKeyId);
    expect((await fetch(serve.url("/health"))).status).toBe(200);
  }, 60_000);

  test("an AccessDenied from STS is a 503 whose hint points at the role's trust policy", async () => {
    gate.accessDenied = true;
    serve = await startServe(config());
    const res = await serve.credentials(TOKEN);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: string; hint: string; code: string };
    expect(body.code).toBe("E_ASSUME_ROLE");
    expect(body.error).toContain("AccessDenied");
    expect(body.hint.toLowerCase()).toContain("trust");
  });

  test("SIGTERM lets an in-flight request finish and exits 0 within 2 s", async () => {
    gate.delayMs = 1000;
    serve = await startServe(config());
    const inFlight = serve.credentials(TOKEN);
    await gate.waitForAssumeRoleCalls(1, 5000);
    const t0 = performance.now();
    const exit = serve.proc.kill("SIGTERM", 5000);
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect((await exit).code).toBe(0);
    expect(performance.now() - t0).toBeLessThan(2000);
    serve = undefined;
  });
});
