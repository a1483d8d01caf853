import { describe, expect, test } from "bun:test";
import type { RoleCredentials } from "../../credentials/types.ts";
import { parseProxyConfigText, parseRunText } from "../config/load-proxy-config.ts";
import type { AwsCredentialSpec, Tenant } from "../config/proxy-config.ts";
import { containerCredentials, type ContainerCredentialsDeps } from "./container-credentials.ts";

const ROLE = (name: string, endpoint: boolean) =>
  `  - name: ${name}\n    host: "*.amazonaws.com"\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/${name}\n      container_endpoint: ${endpoint}\n`;
const T1 = "run-one-token-9Qm4Xr7Lz2Wk8Vn5B";
const T2 = "run-two-token-3Hc8Jd2Kf6Lm9Np4Q";

function creds(role: string): RoleCredentials {
  return {
    accessKeyId: `ASIA${role.toUpperCase().padEnd(16, "X")}`,
    secretAccessKey: `secret-of-${role}`,
    sessionToken: `token-of-${role}`,
    expiration: new Date("2026-12-04T19:30:00.123Z"),
    roleArn: `arn:aws:iam::123456789012:role/${role}`,
    accountId: "123456789012",
    assumedRoleArn: `arn:aws:sts::123456789012:assumed-role/${role}/credproxy-proxy`,
  };
}

/** A runs_dir proxy with two runs; `fetch` stands in for the role cache (AwsRoles.credentials). */
function withRuns(fetch: (tenant: Tenant, spec: AwsCredentialSpec) => Promise<RoleCredentials> = async (_t, s) => creds(s.name)): ContainerCredentialsDeps {
  const config = parseProxyConfigText("runs_dir: /runs\n", "/etc/credproxy/proxy.yaml", { env: {} });
  const runs = [
    parseRunText(`token: ${T1}\ncredentials:\n${ROLE("role-one", true)}`, "/runs/ci-1.yaml", "ci-1", { env: {} }),
    parseRunText(`token: ${T2}\ncredentials:\n${ROLE("role-two", true)}${ROLE("other", false)}`, "/runs/ci-2.yaml", "ci-2", { env: {} }),
  ];
  return { config, runs, credentials: fetch };
}

describe("the container credential endpoint", () => {
  test("a run's token gets its own run's role in the ECS format, whole-second Z expiry", async () => {
    const one = await containerCredentials([T1], withRuns());
    expect(one).toMatchObject({ status: 200, tenant: "ci-1", credential: "role-one" });
    expect(one.body).toEqual({
      AccessKeyId: "ASIAROLE-ONEXXXXXXXX",
      SecretAccessKey: "secret-of-role-one",
      Token: "token-of-role-one",
      Expiration: "2026-12-04T19:30:00Z",
      RoleArn: "arn:aws:iam::123456789012:role/role-one",
      AccountId: "123456789012",
    });
    const two = await containerCredentials([T2], withRuns());
    expect(two).toMatchObject({ status: 200, tenant: "ci-2", credential: "role-two" });
  });

  test("`Bearer TOKEN` is accepted too, for curl users", async () => {
    expect((await containerCredentials([`Bearer ${T1}`], withRuns())).tenant).toBe("ci-1");
  });

  test("no token is 401 and a wrong one 403, each saying how to fix it and nothing of any role", async () => {
    for (const [authorization, status] of [[[], 401], [[""], 401], [["not-a-token"], 403], [[T1.slice(0, -1)], 403], [[`${T1} `], 403]] as const) {
      const answer = await containerCredentials(authorization, withRuns());
      expect(answer.status).toBe(status);
      expect(answer.body.Message).toContain("credproxy proxy env --aws-endpoint");
      expect(JSON.stringify(answer)).not.toMatch(/ASIA|secret-of|token-of|role-one|role-two/);
    }
  });

  test("two Authorization headers are refused, even when one is right", async () => {
    expect(await containerCredentials([T1, "junk"], withRuns())).toMatchObject({ status: 400, body: { Code: "AmbiguousAuthorization" } });
  });

  test("a proxy with no token at all keeps the endpoint off", async () => {
    const config = parseProxyConfigText(`credentials:\n${ROLE("role-one", true)}`, "/etc/credproxy/proxy.yaml", { env: {} });
    const answer = await containerCredentials(["anything"], { config, runs: [], credentials: async () => creds("role-one") });
    expect(answer).toMatchObject({ status: 403, body: { Code: "NoTokenConfigured" } });
    expect(answer.body.Message).toContain("token:");
  });

  test("the single-tenant token selects the default tenant", async () => {
    const config = parseProxyConfigText(`token: ${T1}\ncredentials:\n${ROLE("role-one", true)}`, "/etc/credproxy/proxy.yaml", { env: {} });
    const deps = { config, runs: [], credentials: async (_t: Tenant, s: AwsCredentialSpec) => creds(s.name) };
    expect(await containerCredentials([T1], deps)).toMatchObject({ status: 200, tenant: "default", credential: "role-one" });
    expect((await containerCredentials([T2], deps)).status).toBe(403);
  });

  test("a run without an aws credential, or without container_endpoint, gets 404 with the fix", async () => {
    const config = parseProxyConfigText("runs_dir: /runs\n", "/etc/credproxy/proxy.yaml", { env: {} });
    const runs = [parseRunText(`token: ${T1}\n`, "/runs/bare.yaml", "bare", { env: {} }), parseRunText(`token: ${T2}\ncredentials:\n${ROLE("role-two", false)}`, "/runs/off.yaml", "off", { env: {} })];
    const deps = { config, runs, credentials: async () => creds("never") };
    const bare = await containerCredentials([T1], deps);
    expect(bare).toMatchObject({ status: 404, body: { Code: "NoContainerCredential" } });
    expect(bare.body.Message).toContain("has no aws: credential");
    const off = await containerCredentials([T2], deps);
    expect(off.status).toBe(404);
    expect(off.body.Message).toContain("role-two");
    expect(off.body.Message).toContain("container_endpoint: true");
  });

  test("a role that cannot be had is 503 without the cause (the log has it)", async () => {
    const answer = await containerCredentials([T1], withRuns(async () => Promise.reject(new Error("AccessDenied for AKIASECRETSOURCEKEY"))));
    expect(answer).toMatchObject({ status: 503, body: { Code: "CredentialsUnavailable" }, tenant: "ci-1" });
    expect(JSON.stringify(answer.body)).not.toContain("AKIA");
  });
});

describe("container_endpoint in the config", () => {
  test("is off unless set, and at most one aws credential per run may set it", () => {
    const config = parseProxyConfigText(`credentials:\n${ROLE("a", false).replace("      container_endpoint: false\n", "")}`, "/p.yaml", { env: {} });
    expect(config.defaultTenant.awsCredentials[0]!.containerEndpoint).toBe(false);
    expect(() => parseProxyConfigText(`credentials:\n${ROLE("a", true)}${ROLE("b", true)}`, "/p.yaml", { env: {} })).toThrow(/credentials\[1\]\.aws\.container_endpoint.*one aws credential only/s);
  });
});
