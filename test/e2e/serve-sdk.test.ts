/**
 * The main job, end to end: the compiled binary assumes roles on moto_server in its
 * signature-validating mode, and real SDK clients (boto3, the aws CLI, the AWS SDK for
 * JavaScript v3 default chain) take the credentials from it and call sts:GetCallerIdentity
 * on moto. Validating mode proves the credentials we hand out really sign requests.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { callerIdentity, clientEnv, type ClientKind } from "../helpers/clients.ts";
import { startMoto, type ValidatingMoto } from "../helpers/moto.ts";
import { serviceYaml, sourceYaml, startServe, type RunningServe } from "./serve-fixture.ts";

let moto: ValidatingMoto;
let serve: RunningServe;
const TOKEN_A = "token-for-service-a-0123456789abcdef";
const TOKEN_B = "token-for-service-b-fedcba9876543210";

beforeAll(async () => {
  moto = await startMoto({ validating: true, roles: ["role-a", "role-b"] });
  serve = await startServe(
    [
      "server: { host: 127.0.0.1, port: {{port}} }",
      sourceYaml(moto.endpoint, moto.user.accessKeyId, moto.user.secretAccessKey),
      "services:",
      serviceYaml("svc-a", TOKEN_A, moto.roleArn("role-a"), "      RoleSessionName: session-a"),
      serviceYaml("svc-b", TOKEN_B, moto.roleArn("role-b"), "      RoleSessionName: session-b"),
    ].join("\n"),
    { args: ["--log-level", "debug"] }, // secrets must stay out of logs at every level
  );
});

afterAll(async () => {
  await serve?.proc.kill();
  await moto?.stop();
});

describe("credproxy serve with real SDK clients", () => {
  for (const client of ["boto3", "aws-cli", "js-sdk"] as const satisfies readonly ClientKind[]) {
    test(`${client} gets each service's assumed role through AWS_CONTAINER_AUTHORIZATION_TOKEN`, async () => {
      const fullUri = serve.url("/v1/credentials");
      const a = await callerIdentity(client, { fullUri, token: TOKEN_A, stsEndpoint: moto.endpoint });
      const b = await callerIdentity(client, { fullUri, token: TOKEN_B, stsEndpoint: moto.endpoint });
      expect(a.arn).toBe("arn:aws:sts::123456789012:assumed-role/role-a/session-a");
      expect(b.arn).toBe("arn:aws:sts::123456789012:assumed-role/role-b/session-b");
    });

    test(`${client} reads the token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, async () => {
      const tokenFile = join(serve.dir, `token-${client}`);
      await writeFile(tokenFile, TOKEN_B); // no trailing newline: SDKs reject one
      const id = await callerIdentity(client, { fullUri: serve.url("/v1/credentials"), tokenFile, stsEndpoint: moto.endpoint });
      expect(id.arn).toBe("arn:aws:sts::123456789012:assumed-role/role-b/session-b");
    });
  }

  test("boto3 reports that it got the credentials from the container provider", async () => {
    const id = await callerIdentity("boto3", { fullUri: serve.url("/v1/credentials"), token: TOKEN_A, stsEndpoint: moto.endpoint });
    expect(id.method).toBe("container-role");
  });

  test("boto3 making five calls in one process fetches credentials from credproxy once", async () => {
    // CredProxy served 900 s credentials, inside botocore's 15-minute refresh window, so every
    // call re-fetched. Count credproxy's successful requests for svc-b around five calls.
    const successes = async () =>
      Number((await (await fetch(serve.url("/metrics"))).text()).match(/credproxy_requests_total\{service_name="svc-b",result="success"\} (\d+)/)?.[1] ?? 0);
    const before = await successes();
    const env = await clientEnv({ fullUri: serve.url("/v1/credentials"), token: TOKEN_B, stsEndpoint: moto.endpoint });
    const script = "import boto3\nc = boto3.client('sts')\nfor _ in range(5): print(c.get_caller_identity()['Arn'])";
    const proc = Bun.spawn(["python3", "-c", script], { env, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out.trim().split("\n")).toEqual(Array(5).fill("arn:aws:sts::123456789012:assumed-role/role-b/session-b"));
    expect((await successes()) - before).toBe(1);
  });

  test("the response carries the ECS fields plus RoleArn and AccountId, with a whole-second Z expiration", async () => {
    const res = await serve.credentials(TOKEN_A);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(["AccessKeyId", "AccountId", "Expiration", "RoleArn", "SecretAccessKey", "Token"]);
    expect(body.AccessKeyId).toMatch(/^ASIA/);
    expect(body.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(body.RoleArn).toBe(moto.roleArn("role-a"));
    expect(body.AccountId).toBe("123456789012");
    // Default DurationSeconds is 3600, not CredProxy's 900.
    const life = Date.parse(body.Expiration!) - Date.now();
    expect(life).toBeGreaterThan(50 * 60_000);
  });

  test("a second request inside the validity window gets the same credentials", async () => {
    const first = (await (await serve.credentials(TOKEN_A)).json()) as { AccessKeyId: string };
    const second = (await (await serve.credentials(TOKEN_A)).json()) as { AccessKeyId: string };
    expect(second.AccessKeyId).toBe(first.AccessKeyId);
  });

  test("/health reports both services ready", async () => {
    const res = await fetch(serve.url("/health"));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; services: number; checks: Record<string, { status: string; serving: boolean }> };
    expect(body).toMatchObject({ status: "healthy", services: 2 });
    expect(body.checks["svc-a"]).toMatchObject({ status: "ready", serving: true });
    expect(body.checks["svc-b"]).toMatchObject({ status: "ready", serving: true });
  });

  test("no token or secret appears in any log line, even at debug level", async () => {
    await serve.credentials("wrong-token-value-123456");
    const served = (await (await serve.credentials(TOKEN_A)).json()) as { SecretAccessKey: string; Token: string };
    const logs = serve.proc.stderrLines.join("\n");
    for (const secret of [TOKEN_A, TOKEN_B, "wrong-token-value-123456", moto.user.secretAccessKey, served.SecretAccessKey, served.Token]) {
      expect(logs).not.toContain(secret);
    }
    // Every line is a JSON record with level, time and msg.
    for (const line of serve.proc.stderrLines.filter(Boolean)) {
      expect(Object.keys(JSON.parse(line) as object).slice(0, 3)).toEqual(["level", "time", "msg"]);
    }
  });
});
