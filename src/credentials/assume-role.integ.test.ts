/**
 * AssumeRole against a real STS implementation: moto_server on 127.0.0.1 (one permissive, one
 * that validates signatures). Nothing here may talk to anything but loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { AssumeRoleSpec, ServiceSpec } from "../config/types";
import { CredproxyError, ErrorCode } from "../errors";
import { createAssumeRoleProvider } from "./assume-role";
import { toEcsResponse } from "./ecs-response";
import { createServiceCredentials } from "./service-credentials";
import { createSourceProvider } from "./source-provider";
import type { CredentialProvider } from "./types";

const KEY = "AKIAIOSFODNN7EXAMPLE";
const source: CredentialProvider = async () => ({ accessKeyId: KEY, secretAccessKey: "any-secret" });
const ROLE = "arn:aws:iam::123456789012:role/dev";
const params: AssumeRoleSpec = { RoleArn: ROLE, RoleSessionName: "credproxy-test", DurationSeconds: 900 };

interface Moto {
  url: string;
  proc: Subprocess;
}

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

async function startMoto(env: Record<string, string> = {}): Promise<Moto> {
  const port = await freePort();
  const proc = Bun.spawn(["moto_server", "-H", "127.0.0.1", "-p", String(port)], {
    env: { ...process.env, ...env },
    stdout: "ignore",
    stderr: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    if (proc.exitCode !== null) throw new Error(`moto_server exited with ${proc.exitCode}`);
    if (await fetch(url).then(() => true, () => false)) return { url, proc };
    await Bun.sleep(100);
  }
  proc.kill();
  throw new Error("moto_server did not answer within 30 s");
}

/** Forwards to moto and records each request's form parameters. */
function recordingProxy(target: string) {
  const seen: URLSearchParams[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const body = await req.text();
      seen.push(new URLSearchParams(body));
      const url = new URL(req.url);
      const upstream = await fetch(target + url.pathname + url.search, { method: req.method, headers: req.headers, body });
      return new Response(await upstream.arrayBuffer(), { status: upstream.status, headers: upstream.headers });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}

let moto: Moto;
let strictMoto: Moto;
let proxy: ReturnType<typeof recordingProxy>;
/** A loopback port nobody listens on. */
let nowhere: string;
const dir = mkdtempSync(join(tmpdir(), "credproxy-integ-"));
const savedEnv = { sts: process.env.AWS_ENDPOINT_URL_STS, any: process.env.AWS_ENDPOINT_URL, cfg: process.env.AWS_CONFIG_FILE };

function setEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

// Starting moto takes seconds on a loaded machine: the default 5 s hook timeout is too tight.
beforeAll(async () => {
  [moto, strictMoto] = await Promise.all([startMoto(), startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: "0" })]);
  proxy = recordingProxy(moto.url);
  // Safety net: an STS call that loses its configured endpoint hits a closed loopback port, not AWS.
  nowhere = `http://127.0.0.1:${await freePort()}`;
  process.env.AWS_ENDPOINT_URL_STS = nowhere;
  process.env.AWS_ENDPOINT_URL = nowhere;
  process.env.AWS_CONFIG_FILE = join(dir, "no-config");
}, 60_000);

afterAll(async () => {
  setEnv("AWS_ENDPOINT_URL_STS", savedEnv.sts);
  setEnv("AWS_ENDPOINT_URL", savedEnv.any);
  setEnv("AWS_CONFIG_FILE", savedEnv.cfg);
  proxy?.stop();
  for (const m of [moto, strictMoto]) {
    if (!m) continue;
    m.proc.kill();
    await m.proc.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("createAssumeRoleProvider against moto_server", () => {
  test("assumes a role with static source keys at an explicit STS endpoint", async () => {
    let calls = 0;
    const creds = await createAssumeRoleProvider({ source, region: "us-east-1", stsEndpoint: moto.url, params, onStsCall: () => (calls += 1) })();
    expect(calls).toBe(1);
    expect(creds.accessKeyId).toStartWith("ASIA");
    expect(creds.sessionToken.length).toBeGreaterThan(0);
    expect(creds.roleArn).toBe(ROLE);
    expect(creds.assumedRoleArn).toBe("arn:aws:sts::123456789012:assumed-role/dev/credproxy-test");
    expect(creds.accountId).toBe("123456789012");
    expect(Math.abs(creds.expiration.getTime() - (Date.now() + 900_000))).toBeLessThan(60_000);
  });

  test("every AssumeRole parameter is sent and accepted", async () => {
    proxy.seen.length = 0;
    const creds = await createAssumeRoleProvider({
      source,
      region: "us-east-1",
      stsEndpoint: proxy.url,
      params: {
        ...params,
        ExternalId: "ext-123",
        Policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] }),
        PolicyArns: [{ arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }],
        Tags: [{ Key: "team", Value: "core" }],
        TransitiveTagKeys: ["team"],
        SerialNumber: "arn:aws:iam::123456789012:mfa/dev",
        TokenCode: "123456",
        SourceIdentity: "alice",
      },
    })();
    expect(creds.assumedRoleArn).toBe("arn:aws:sts::123456789012:assumed-role/dev/credproxy-test");
    const sent = [...proxy.seen[0]!.keys()].sort();
    expect(sent).toEqual([
      "Action", "DurationSeconds", "ExternalId", "Policy", "PolicyArns.member.1.arn", "RoleArn", "RoleSessionName",
      "SerialNumber", "SourceIdentity", "Tags.member.1.Key", "Tags.member.1.Value", "TokenCode", "TransitiveTagKeys.member.1", "Version",
    ]);
  });

  for (const variable of ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"] as const) {
    test(`${variable} is honoured when no endpoint is configured`, async () => {
      // AWS_ENDPOINT_URL_STS must beat AWS_ENDPOINT_URL; AWS_ENDPOINT_URL is used when it is alone.
      setEnv("AWS_ENDPOINT_URL_STS", variable === "AWS_ENDPOINT_URL_STS" ? proxy.url : undefined);
      setEnv("AWS_ENDPOINT_URL", variable === "AWS_ENDPOINT_URL" ? proxy.url : nowhere);
      try {
        // Guard: ask the SDK where it would send the request before sending anything, so a
        // regression fails here instead of reaching real AWS.
        const { STSClient } = await import("@aws-sdk/client-sts");
        const probe = new STSClient({ region: "us-east-1", credentials: { accessKeyId: KEY, secretAccessKey: "x" } });
        const configured = await (probe.config as { serviceConfiguredEndpoint?: () => Promise<unknown> }).serviceConfiguredEndpoint?.();
        probe.destroy();
        expect(String(configured)).toStartWith(proxy.url);

        proxy.seen.length = 0;
        const creds = await createAssumeRoleProvider({ source, region: "us-east-1", params })();
        expect(proxy.seen).toHaveLength(1);
        expect(creds.accountId).toBe("123456789012");
      } finally {
        process.env.AWS_ENDPOINT_URL_STS = nowhere;
        process.env.AWS_ENDPOINT_URL = nowhere;
      }
    });
  }

  test("a profile's role_arn/source_profile chain assumes its role at the service's STS endpoint", async () => {
    const credentialsFile = join(dir, "credentials");
    const configFile = join(dir, "config");
    writeFileSync(credentialsFile, `[base]\naws_access_key_id = ${KEY}\naws_secret_access_key = any-secret\n`);
    writeFileSync(configFile, `[profile chained]\nrole_arn = arn:aws:iam::123456789012:role/jump\nsource_profile = base\n`);
    proxy.seen.length = 0;
    const chained = createSourceProvider({ kind: "profile", profile: "chained", configFile, credentialsFile }, { region: "us-east-1", stsEndpoint: proxy.url });
    const creds = await createAssumeRoleProvider({ source: chained, region: "us-east-1", stsEndpoint: proxy.url, params })();
    expect(proxy.seen.map((p) => p.get("RoleArn"))).toEqual(["arn:aws:iam::123456789012:role/jump", ROLE]);
    expect(creds.assumedRoleArn).toBe("arn:aws:sts::123456789012:assumed-role/dev/credproxy-test");
  });

  test("an STS that checks signatures rejects unknown source keys, and the hint blames the source credentials", async () => {
    const err = await createAssumeRoleProvider({ source, region: "us-east-1", stsEndpoint: strictMoto.url, params })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredproxyError);
    const e = err as CredproxyError;
    expect(e.code).toBe(ErrorCode.AssumeRole);
    expect(e.message).toStartWith(`sts:AssumeRole on ${ROLE} failed: InvalidClientTokenId: `);
    expect(e.hint).toContain("source credentials are wrong");
    expect(e.message).not.toContain("any-secret");
  });
});

describe("createServiceCredentials against moto_server", () => {
  test("serves moto's credentials with a whole-second Expiration", async () => {
    const spec: ServiceSpec = {
      name: "web",
      authToken: "t",
      region: "us-east-1",
      source: { kind: "static", accessKeyId: KEY, secretAccessKey: "any-secret" },
      stsEndpoint: moto.url,
      assumeRole: params,
      origin: { kind: "static" },
    };
    let stsCalls = 0;
    const creds = createServiceCredentials(spec, { refreshBufferSeconds: 300, retryDelaySeconds: 60, requestTimeoutSeconds: 30 }, { onStsCall: () => (stsCalls += 1) });
    const all = await Promise.all(Array.from({ length: 10 }, () => creds.get()));
    creds.stop();
    expect(stsCalls).toBe(1);
    const body = toEcsResponse(all[0]!);
    expect(body.Expiration).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(body).toMatchObject({ RoleArn: ROLE, AccountId: "123456789012" });
  });
});
