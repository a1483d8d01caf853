/**
 * The broker's source credentials from an IAM Identity Center (SSO) profile, through the SDK's
 * SSO token cache. No SSO portal exists on these machines (moto has none), so a stand-in on
 * loopback answers GetRoleCredentials; STS is moto behind the counting gate, which shows that
 * the AssumeRole was signed with the key the SSO portal issued.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCredproxy, tempDir } from "../helpers/binary.ts";
import { commandFor } from "../helpers/clients.ts";
import { startMoto, type PlainMoto } from "../helpers/moto.ts";
import { startStsGate, type Gate } from "../helpers/sts-gate.ts";

const ACCESS_TOKEN = "sso-access-token-from-the-cache-0123456789";
const SSO_KEY = "ASIASSOISSUEDKEY0001";
let moto: PlainMoto;
let gate: Gate;
let portal: ReturnType<typeof Bun.serve>;
const portalCalls: { role: string | null; account: string | null; bearer: string | null }[] = [];

beforeAll(async () => {
  moto = await startMoto();
  gate = await startStsGate(moto.endpoint);
  portal = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      const bearer = req.headers.get("x-amz-sso_bearer_token");
      portalCalls.push({ role: url.searchParams.get("role_name"), account: url.searchParams.get("account_id"), bearer });
      if (url.pathname !== "/federation/credentials" || bearer !== ACCESS_TOKEN) return Response.json({ message: "Unauthorized" }, { status: 401 });
      return Response.json({
        roleCredentials: { accessKeyId: SSO_KEY, secretAccessKey: "sso-issued-secret", sessionToken: "sso-issued-session-token", expiration: Date.now() + 3_600_000 },
      });
    },
  });
});
afterAll(async () => {
  portal?.stop(true);
  await gate?.stop();
  await moto?.stop();
});

describe("broker source credentials from an SSO profile", () => {
  test("broker exec --profile <sso profile> assumes the role with the credentials the SSO portal issued", async () => {
    const home = await tempDir("credproxy-sso-");
    await mkdir(join(home, ".aws", "sso", "cache"), { recursive: true });
    const config = join(home, ".aws", "config");
    await writeFile(
      config,
      [
        "[profile sso-dev]",
        "sso_session = corp",
        "sso_account_id = 123456789012",
        "sso_role_name = Developer",
        "region = us-east-1",
        "[sso-session corp]",
        "sso_start_url = https://corp.awsapps.com/start",
        "sso_region = us-east-1",
        "",
      ].join("\n"),
    );
    // The SDK looks the token up by the SHA-1 of the sso-session name.
    const cacheFile = join(home, ".aws", "sso", "cache", `${createHash("sha1").update("corp").digest("hex")}.json`);
    await writeFile(
      cacheFile,
      JSON.stringify({ accessToken: ACCESS_TOKEN, expiresAt: new Date(Date.now() + 8 * 3_600_000).toISOString(), region: "us-east-1", startUrl: "https://corp.awsapps.com/start" }),
    );

    const r = await runCredproxy(["broker", "exec", "--profile", "sso-dev", "--role-arn", moto.roleArn("role-a"), "--", ...commandFor("boto3")], {
      env: {
        HOME: home,
        AWS_CONFIG_FILE: config,
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        AWS_ENDPOINT_URL_SSO: `http://127.0.0.1:${portal.port}`,
        AWS_ENDPOINT_URL_STS: gate.endpoint,
        AWS_REGION: "us-east-1",
      },
    });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect((JSON.parse(r.stdout) as { arn: string }).arn).toBe("arn:aws:sts::123456789012:assumed-role/role-a/credproxy-broker");
    expect(portalCalls).toEqual([{ role: "Developer", account: "123456789012", bearer: ACCESS_TOKEN }]);
    expect(gate.calls.map((c) => c.accessKeyId)).toEqual([SSO_KEY]);
    expect(gate.calls[0]!.withSessionToken).toBe(true);
  });
});
