/**
 * The container credential endpoint of the compiled `credproxy proxy`: two runs in runs_dir,
 * each with an aws: credential that sets container_endpoint, in front of a validating moto.
 * boto3, the aws CLI and the JS v3 default chain get only the two variables `proxy env
 * --aws-endpoint` prints (no keys, no config files), so the identity each prints came from the
 * proxy; moto checks every signature, so it proves the exact role credentials arrived.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { callerIdentity, runClient as runSdkClient, type ClientKind } from "../helpers/clients.ts";
import { curl } from "../helpers/curl.ts";
import { ACCOUNT_ID, startMoto, type ValidatingMoto } from "../helpers/moto.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { startTlsFront, type TlsFront } from "../helpers/tls-front.ts";
import { clientEnv, runClient } from "./proxy-client-run.ts";
import { startProxy, type RunningProxy } from "./proxy-fixture.ts";

const T1 = "endpoint-run-one-9Qm4Xr7Lz2Wk8Vn5B";
const T2 = "endpoint-run-two-3Hc8Jd2Kf6Lm9Np4Q";
const CLIENTS: ClientKind[] = ["boto3", "aws-cli", "js-sdk"];

let moto: ValidatingMoto;
let front: TlsFront;
let proxy: RunningProxy;
let one: Record<string, string>;
let two: Record<string, string>;

function runFile(token: string, role: string): string {
  return `token: ${token}
allow: ["localhost:${front.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: ${role}
    host: localhost:${front.port}
    aws:
      role_arn: ${moto.roleArn(role)}
      source: {iam_keys: {aws_access_key_id: ${moto.user.accessKeyId}, aws_secret_access_key: "${moto.user.secretAccessKey}"}}
      sts_endpoint: ${moto.endpoint}
      container_endpoint: true
`;
}

beforeAll(async () => {
  moto = await startMoto({ validating: true, roles: ["run-one", "run-two"] });
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  front = await startTlsFront(pki, moto.port);
  // debug: the log that must not show a token or a key is the most talkative one
  proxy = await startProxy(`runs_dir: ./runs\nlog_level: debug\ntls: {upstream_ca_bundle: ${pki.caFile}}\n`, {
    dirs: ["runs"],
    files: { "runs/ci-1.yaml": runFile(T1, "run-one"), "runs/ci-2.yaml": runFile(T2, "run-two") },
  });
  one = await proxy.sandboxEnv(["--run", "ci-1", "--aws-endpoint"]);
  two = await proxy.sandboxEnv(["--run", "ci-2", "--aws-endpoint"]);
}, 60_000);
afterAll(cleanupAll);

const sdk = (client: ClientKind, env: Record<string, string>) =>
  callerIdentity(client, { fullUri: env.AWS_CONTAINER_CREDENTIALS_FULL_URI!, token: env.AWS_CONTAINER_AUTHORIZATION_TOKEN!, stsEndpoint: moto.endpoint });

const endpointCurl = (headers: string[]) => curl(["-sS", "-i", ...headers.flatMap((h) => ["-H", h]), `http://127.0.0.1:${proxy.port}/_credproxy/aws/credentials`]);

describe("GET /_credproxy/aws/credentials on the proxy port", () => {
  test("proxy env --aws-endpoint prints the endpoint's URL and the run's token, and no keys", () => {
    expect(one.AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe(`http://127.0.0.1:${proxy.port}/_credproxy/aws/credentials`);
    expect(one.AWS_CONTAINER_AUTHORIZATION_TOKEN).toBe(T1);
    expect(two.AWS_CONTAINER_AUTHORIZATION_TOKEN).toBe(T2);
    expect(one.AWS_ACCESS_KEY_ID).toBeUndefined();
  });

  for (const client of CLIENTS) {
    test(`${client}'s default chain, with only the two variables, answers as the run's role (validating moto)`, async () => {
      const identity = await sdk(client, one);
      expect(identity.arn).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/run-one/credproxy-proxy`);
      expect(identity.accessKeyId).toMatch(/^ASIA/);
      // each SDK says it took them from the container provider
      if (client === "js-sdk") expect(identity.method).toContain("CREDENTIALS_HTTP");
      else expect(identity.method).toBe("container-role");
    }, 60_000);
  }

  test("a second run's token gets its own run's role", async () => {
    expect((await sdk("js-sdk", two)).arn).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/run-two/credproxy-proxy`);
    expect((await sdk("boto3", two)).arn).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/run-two/credproxy-proxy`);
  }, 60_000);

  test("no token is 401 and a wrong token 403, with the fix and no credentials", async () => {
    const missing = await endpointCurl([]);
    expect(missing.stdout).toMatch(/^HTTP\/1\.1 401/);
    expect(missing.stdout).toContain("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const wrong = await endpointCurl([`Authorization: ${T1.slice(0, -1)}x`]);
    expect(wrong.stdout).toMatch(/^HTTP\/1\.1 403/);
    for (const r of [missing, wrong]) expect(r.stdout).not.toMatch(/AccessKeyId|ASIA|run-one|run-two/);
    const right = await endpointCurl([`Authorization: ${T1}`]);
    expect(right.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(right.stdout).toMatch(/cache-control: no-store/i);
  });

  test("an SDK with a wrong token fails: it gets no credentials", async () => {
    const r = await runSdkClient("boto3", { fullUri: one.AWS_CONTAINER_CREDENTIALS_FULL_URI!, token: "not-the-token", stsEndpoint: moto.endpoint });
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain("assumed-role");
  }, 60_000);

  test("requests signed with the served keys go through the proxy to the bound host unchanged", async () => {
    const env = { ...clientEnv(await proxy.sandboxEnv(["--run", "ci-1", "--aws-endpoint"])), AWS_DEFAULT_REGION: "us-east-1", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true" };
    const r = await runClient(["aws", "sts", "get-caller-identity", "--endpoint-url", `https://localhost:${front.port}`, "--output", "json"], env, 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).Arn).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/run-one/credproxy-proxy`);
    // forwarded as signed: the served key id is the one moto saw
    const served = JSON.parse((await endpointCurl([`Authorization: ${T1}`])).stdout.split("\r\n\r\n")[1]!);
    expect(front.heads().some((h) => h.includes(`Credential=${served.AccessKeyId}/`))).toBe(true);
  }, 60_000);

  test("neither the log, /health nor the metrics show a token or a served key", async () => {
    const right = JSON.parse((await endpointCurl([`Authorization: ${T2}`])).stdout.split("\r\n\r\n")[1]!);
    const health = await curl(["-sS", `http://127.0.0.1:${proxy.port}/_credproxy/health`]);
    const metrics = await curl(["-sS", `http://127.0.0.1:${proxy.port}/_credproxy/metrics`]);
    const log = [...proxy.proc.stdoutLines, ...proxy.proc.stderrLines].join("\n");
    expect(log).toContain("container credentials served");
    expect(log).toContain("container credentials refused");
    for (const text of [log, health.stdout, metrics.stdout]) {
      for (const secret of [T1, T2, right.AccessKeyId, right.SecretAccessKey, right.Token]) expect(text.includes(secret)).toBe(false);
    }
  });
});

describe("proxy env --aws-endpoint", () => {
  test("refuses a credential without container_endpoint, notes an address SDKs refuse, and will not mix with --aws", async () => {
    const { runCredproxy } = await import("../helpers/binary.ts");
    const dir = await tempDir();
    const config = join(dir, "proxy.yaml");
    await Bun.write(config, `token: ${T1}\ncredentials:\n  - name: plain\n    host: "*.amazonaws.com"\n    aws: {role_arn: "${moto.roleArn("run-one")}"}\n`);
    const r = await runCredproxy(["proxy", "env", "--config", config, "--proxy-address", "127.0.0.1:3128", "--aws-endpoint"], { env: { XDG_CONFIG_HOME: dir }, cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("container_endpoint: true");
    await Bun.write(config, `token: ${T1}\ncredentials:\n  - name: served\n    host: "*.amazonaws.com"\n    aws: {role_arn: "${moto.roleArn("run-one")}", container_endpoint: true}\n`);
    const valid = await runCredproxy(["validate", "--proxy", "--config", config], { env: { XDG_CONFIG_HOME: dir }, cwd: dir });
    expect(valid.stdout).toContain("also served at /_credproxy/aws/credentials");
    const remote = await runCredproxy(["proxy", "env", "--config", config, "--proxy-address", "proxy.invalid:3128", "--aws-endpoint"], { env: { XDG_CONFIG_HOME: dir }, cwd: dir });
    expect(remote.stdout).toContain("export AWS_CONTAINER_CREDENTIALS_FULL_URI='http://proxy.invalid:3128/_credproxy/aws/credentials'");
    expect(remote.stdout).toMatch(/^# note: AWS SDKs fetch container credentials over http:\/\/ only from .*proxy\.invalid is none of them/m);
    const both = await runCredproxy(["proxy", "env", "--config", config, "--proxy-address", "127.0.0.1:3128", "--aws", "--aws-endpoint"], { env: { XDG_CONFIG_HOME: dir }, cwd: dir });
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("exclude each other");
  });
});
