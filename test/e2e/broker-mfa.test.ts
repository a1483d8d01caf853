/**
 * `credproxy broker` without --role-arn, and with MFA, end to end: the compiled binary against
 * moto_server (plain mode: it accepts any SerialNumber/TokenCode) through the sts-gate, with a
 * small recorder between the gate and moto that keeps every STS request's parameters and the
 * GetSessionToken answers (the gate itself only keeps AssumeRole's). boto3 runs as the command.
 * All traffic stays on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCredproxy, tempDir, type EnvOverrides, type RunResult } from "../helpers/binary.ts";
import { startMoto, type PlainMoto } from "../helpers/moto.ts";
import { startStsGate, type Gate } from "../helpers/sts-gate.ts";

interface Recorded {
  action: string | undefined;
  params: Record<string, string>;
  /** AccessKeyId in a successful GetSessionToken answer. */
  issuedKeyId: string | undefined;
  /** The access key in the Authorization header's credential scope. */
  signedWith: string | undefined;
  withSessionToken: boolean;
}

let moto: PlainMoto;
let gate: Gate;
let recorder: ReturnType<typeof Bun.serve>;
const recorded: Recorded[] = [];

beforeAll(async () => {
  moto = await startMoto({ roles: ["role-a", "admin"] });
  recorder = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const body = req.method === "POST" ? await req.text() : "";
      const params = Object.fromEntries(new URLSearchParams(body));
      for (const [k, v] of url.searchParams) params[k] = v;
      const headers = new Headers(req.headers);
      headers.delete("content-length");
      const res = await fetch(new URL(url.pathname + url.search, moto.endpoint), { method: req.method, headers, ...(body ? { body } : {}) });
      const text = await res.text();
      const issuedKeyId = params.Action === "GetSessionToken" ? /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(text)?.[1] : undefined;
      const signedWith = /Credential=([^/,\s]+)\//.exec(req.headers.get("authorization") ?? "")?.[1];
      recorded.push({ action: params.Action, params, issuedKeyId, signedWith, withSessionToken: req.headers.has("x-amz-security-token") });
      const out = new Headers(res.headers);
      for (const h of ["content-length", "content-encoding", "transfer-encoding", "connection"]) out.delete(h);
      return new Response(text, { status: res.status, headers: out });
    },
  });
  gate = await startStsGate(`http://127.0.0.1:${recorder.port}`);
});

afterAll(async () => {
  await gate?.stop();
  recorder?.stop(true);
  await moto?.stop();
});

const MFA_SERIAL = "arn:aws:iam::123456789012:mfa/dev";

function env(extra: EnvOverrides = {}): EnvOverrides {
  return { AWS_ENDPOINT_URL_STS: gate.endpoint, AWS_REGION: "us-east-1", ...extra };
}

/** Long-term keys in credproxy's environment (the default chain). */
function keyEnv(): EnvOverrides {
  return env({ AWS_ACCESS_KEY_ID: moto.user.accessKeyId, AWS_SECRET_ACCESS_KEY: moto.user.secretAccessKey });
}

/** Shared files with profile `mfa`: the user's keys and mfa_serial. */
async function mfaProfileEnv(): Promise<EnvOverrides> {
  const dir = await tempDir();
  const config = join(dir, "config");
  const credentials = join(dir, "credentials");
  await writeFile(config, `[profile mfa]\nregion = us-east-1\nmfa_serial = ${MFA_SERIAL}\n`);
  await writeFile(credentials, `[mfa]\naws_access_key_id = ${moto.user.accessKeyId}\naws_secret_access_key = ${moto.user.secretAccessKey}\n`);
  return env({ AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials });
}

function describeRun(r: RunResult): string {
  return `exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-3000)}`;
}

/** boto3: what credentials it got, and who STS says they are. One JSON line. */
const PY_IDENTITY = `
import json, os, boto3
s = boto3.Session()
c = s.get_credentials().get_frozen_credentials()
print(json.dumps({"keyId": c.access_key, "token": bool(c.token), "method": s.get_credentials().method,
  "arn": s.client("sts").get_caller_identity()["Arn"], "env": dict(os.environ)}))
`;

const actions = (name: string): Recorded[] => recorded.filter((r) => r.action === name);

describe("credproxy broker exec without --role-arn", () => {
  test("long-term keys in the parent env: the command gets a GetSessionToken session, never the keys", async () => {
    recorded.length = 0;
    gate.reset();
    const r = await runCredproxy(["broker", "exec", "--duration", "900", "--", "python3", "-c", PY_IDENTITY], { env: keyEnv(), timeoutMs: 45_000 });
    expect(r.code, describeRun(r)).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { keyId: string; token: boolean; method: string; env: Record<string, string> };
    expect(out.method).toBe("container-role");
    // moto's GetSessionToken answers with a fixed example key id (AKIA…, not ASIA…): what
    // matters is that it is the session's key, with its token, and not the long-term one.
    expect(out.token).toBe(true);
    expect(out.keyId).not.toBe(moto.user.accessKeyId);
    expect(JSON.stringify(out.env)).not.toContain(moto.user.accessKeyId);
    expect(JSON.stringify(out.env)).not.toContain(moto.user.secretAccessKey);
    expect(r.stdout).not.toContain(moto.user.accessKeyId);
    const gst = actions("GetSessionToken");
    expect(gst.length).toBe(1);
    expect(gst[0]!.params.DurationSeconds).toBe("900");
    expect(gst[0]!.params.SerialNumber).toBeUndefined();
    expect(out.keyId).toBe(gst[0]!.issuedKeyId!);
    expect(gate.assumeRoleCalls).toBe(0);
  });
});

describe("credproxy broker exec with mfa_serial", () => {
  test("--mfa-token: one MFA session signs AssumeRole; a second process under the same exec makes no new session", async () => {
    recorded.length = 0;
    gate.reset();
    const py = `import boto3; print(boto3.client("sts").get_caller_identity()["Arn"])`;
    const r = await runCredproxy(
      ["broker", "exec", "--log-level", "debug", "--profile", "mfa", "--mfa-token", "123456", "--role-arn", moto.roleArn("role-a"), "--", "sh", "-c", 'python3 -c "$1" && python3 -c "$1"', "sh", py],
      { env: await mfaProfileEnv(), timeoutMs: 45_000 },
    );
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["arn:aws:sts::123456789012:assumed-role/role-a/credproxy-broker", "arn:aws:sts::123456789012:assumed-role/role-a/credproxy-broker"]);
    const gst = actions("GetSessionToken");
    expect(gst.length).toBe(1);
    expect(gst[0]!.params).toMatchObject({ SerialNumber: MFA_SERIAL, TokenCode: "123456", DurationSeconds: "43200" });
    expect(gate.requests.filter((q) => q.action === "GetSessionToken").length).toBe(1);
    expect(gate.calls.length).toBe(1);
    expect(gate.calls[0]!.withSessionToken).toBe(true);
    expect(gate.calls[0]!.accessKeyId).toBe(gst[0]!.issuedKeyId!);
    expect(gate.calls[0]!.accessKeyId).not.toBe(moto.user.accessKeyId);
    expect(r.stderr).toContain("MFA session started");
    expect(r.stderr.replaceAll("123456789012", "")).not.toContain("123456"); // the code is never logged
  });

  test("no --mfa-token and no terminal: exit 2 before anything starts, with the hint", async () => {
    recorded.length = 0;
    gate.reset();
    const marker = join(await tempDir(), "started");
    const r = await runCredproxy(["broker", "exec", "--profile", "mfa", "--role-arn", moto.roleArn("role-a"), "--", "touch", marker], {
      env: await mfaProfileEnv(),
    });
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toContain(MFA_SERIAL);
    expect(r.stderr).toContain("--mfa-token");
    expect(await Bun.file(marker).exists()).toBe(false);
    expect(recorded.length).toBe(0);
  });

  test("a malformed --mfa-token is a usage error", async () => {
    const r = await runCredproxy(["broker", "exec", "--profile", "mfa", "--mfa-token", "12ab56", "--", "true"], { env: await mfaProfileEnv() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("6-digit");
  });
});

describe("credproxy broker exec --profile <role profile with mfa_serial> (aws-vault style)", () => {
  test("MFA session on source_profile's keys, then AssumeRole(role_arn) with that session", async () => {
    recorded.length = 0;
    gate.reset();
    const dir = await tempDir();
    const config = join(dir, "config");
    const credentials = join(dir, "credentials");
    await writeFile(
      config,
      `[profile base]\n# long-term keys in credentials file\nregion = us-east-1\n\n[profile admin]\nsource_profile = base\nrole_arn = ${moto.roleArn("admin")}\nmfa_serial = arn:aws:iam::123456789012:mfa/alice\n`,
    );
    await writeFile(credentials, `[base]\naws_access_key_id = ${moto.user.accessKeyId}\naws_secret_access_key = ${moto.user.secretAccessKey}\n`);
    const py = `import boto3; print(boto3.client("sts").get_caller_identity()["Arn"])`;
    const r = await runCredproxy(["broker", "exec", "--log-level", "debug", "--profile", "admin", "--mfa-token", "123456", "--", "python3", "-c", py], {
      env: env({ HOME: dir, AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials }),
      timeoutMs: 45_000,
    });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout.trim().split("\n").pop()).toMatch(/^arn:aws:sts::123456789012:assumed-role\/admin\//);
    const gst = actions("GetSessionToken");
    expect(gst.length).toBe(1);
    expect(gst[0]!.params).toMatchObject({ SerialNumber: "arn:aws:iam::123456789012:mfa/alice", TokenCode: "123456" });
    expect(gst[0]!.signedWith).toBe(moto.user.accessKeyId);
    expect(gst[0]!.withSessionToken).toBe(false);
    const assumes = actions("AssumeRole");
    expect(assumes.length).toBe(1);
    expect(assumes[0]!.params.RoleArn).toBe(moto.roleArn("admin"));
    expect(gate.calls.length).toBe(1);
    expect(gate.calls[0]!.roleArn).toBe(moto.roleArn("admin"));
    expect(gate.calls[0]!.withSessionToken).toBe(true);
    expect(gate.calls[0]!.accessKeyId).toBe(gst[0]!.issuedKeyId!);
    expect(gate.calls[0]!.accessKeyId).not.toBe(moto.user.accessKeyId);
    expect(r.stderr).toContain("MFA session started");
  });
});
