/**
 * Proves the end-to-end harness itself: moto in validating mode really checks keys, the
 * sts-gate forwards signed requests intact and its faults do what they say, real SDK clients
 * take credentials from a container endpoint, and the process helpers keep children on a
 * leash. Everything runs on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { timingSafeEqual } from "node:crypto";
import {
  BINARY_PATH,
  MissingBinaryError,
  credproxyBinary,
  runCredproxy,
  spawnCredproxy,
  tempDir,
  type CredproxyProcess,
} from "../helpers/binary.ts";
import { cleanupAll, liveChildren } from "../helpers/cleanup.ts";
import { callerIdentity, runClient, writeTokenFile, type ClientKind, type CredentialEndpoint } from "../helpers/clients.ts";
import { ACCOUNT_ID, startMoto, type PlainMoto, type ValidatingMoto } from "../helpers/moto.ts";
import { freePort } from "../helpers/ports.ts";
import { startStsGate, type Gate } from "../helpers/sts-gate.ts";
import { assumeRole, getCallerIdentity, stsFailure, xmlValue, type AssumeRoleInput, type AssumedRole } from "../helpers/sts.ts";
import { Condition, TimeoutError, waitFor } from "../helpers/wait.ts";

const DUMMY = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

let moto: ValidatingMoto;
let gate: Gate;

beforeAll(async () => {
  moto = await startMoto({ validating: true });
  const t = moto.timings;
  console.log(`moto validating: start ${t.startMs.toFixed(0)} ms, setup ${t.setupMs.toFixed(0)} ms (${t.setupCalls} calls)`);
  gate = await startStsGate(moto.endpoint);
});

afterAll(async () => {
  await cleanupAll();
  expect(liveChildren()).toEqual([]);
});

describe("ports and waiting", () => {
  test("freePort gives a loopback port that can be bound", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
    const server = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("ok") });
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
    } finally {
      await server.stop(true);
    }
  });

  test("waitFor returns the truthy value and times out with the reason", async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? n : 0), { timeoutMs: 1000, intervalMs: 1 })).toBe(3);
    const err = await waitFor(() => false, { timeoutMs: 30, what: "nothing" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(String(err)).toContain("nothing");
  });

  test("Condition wakes waiters on notify, without polling", async () => {
    const c = new Condition();
    let value = 0;
    const waiting = c.until(() => value === 2, 1000);
    value = 1;
    c.notify();
    value = 2;
    c.notify();
    await waiting;
    expect(await c.until(() => false, 20).catch((e: unknown) => e)).toBeInstanceOf(TimeoutError);
  });
});

describe("moto in validating mode", () => {
  test("the no-auth budget equals the setup calls and is spent", async () => {
    expect(moto.validating).toBe(true);
    expect(moto.timings.setupCalls).toBe(3 + 2 * 3);
    expect(moto.roles).toEqual(["role-a", "role-b", "role-c"]);
    expect("createRole" in moto).toBe(false);
    // An unsigned IAM call is no longer accepted.
    const r = await fetch(moto.endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20000101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x",
      },
      body: "Action=CreateRole&Version=2010-05-08&RoleName=late&AssumeRolePolicyDocument=%7B%7D",
    });
    expect(r.status).toBe(403);
    expect(xmlValue(await r.text(), "Code")).toBe("InvalidClientTokenId");
  });

  test("dummy keys are rejected with InvalidClientTokenId", async () => {
    const r = await stsFailure(getCallerIdentity(moto.endpoint, DUMMY));
    expect(r.status).toBe(403);
    expect(r.errorCode).toBe("InvalidClientTokenId");
  });

  test("the dev user's key with a wrong secret is rejected with SignatureDoesNotMatch", async () => {
    const r = await stsFailure(getCallerIdentity(moto.endpoint, { ...moto.user, secretAccessKey: `${moto.user.secretAccessKey}x` }));
    expect(r.status).toBe(403);
    expect(r.errorCode).toBe("SignatureDoesNotMatch");
  });

  test("the dev user is accepted", async () => {
    expect(moto.user.accessKeyId).toMatch(/^AKIA/);
    expect(await getCallerIdentity(moto.endpoint, moto.user)).toBe(`arn:aws:iam::${ACCOUNT_ID}:user/dev`);
  });

  test("assumed credentials sign; a wrong secret or a missing token does not", async () => {
    const creds = await assumeRole(moto.endpoint, moto.user, { roleArn: moto.roleArn("role-b"), roleSessionName: "direct" });
    expect(creds.accessKeyId).toMatch(/^ASIA/);
    expect(await getCallerIdentity(moto.endpoint, creds)).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/role-b/direct`);
    expect((await stsFailure(getCallerIdentity(moto.endpoint, { ...creds, secretAccessKey: "wrong" }))).errorCode).toBe("SignatureDoesNotMatch");
    const noToken = { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey };
    expect((await stsFailure(getCallerIdentity(moto.endpoint, noToken))).errorCode).toBe("InvalidClientTokenId");
  });

  test("trustedPrincipals opens roles to chaining", async () => {
    const m = await startMoto({ validating: true, roles: ["base", "chained"], trustedPrincipals: ["*"] });
    try {
      expect(m.timings.setupCalls).toBe(7);
      const base = await assumeRole(m.endpoint, m.user, { roleArn: m.roleArn("base"), roleSessionName: "b" });
      const chained = await assumeRole(m.endpoint, base, { roleArn: m.roleArn("chained"), roleSessionName: "c" });
      expect(await getCallerIdentity(m.endpoint, chained)).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/chained/c`);
    } finally {
      await m.stop();
    }
  });

  test("a plain moto accepts anything and can create roles later", async () => {
    const plain: PlainMoto = await startMoto({ roles: [] });
    try {
      console.log(`moto plain: start ${plain.timings.startMs.toFixed(0)} ms, setup ${plain.timings.setupMs.toFixed(0)} ms`);
      expect(plain.validating).toBe(false);
      expect(await plain.createRole("late")).toBe(`arn:aws:iam::${ACCOUNT_ID}:role/late`);
      expect(plain.roles).toEqual(["late"]);
      expect(await getCallerIdentity(plain.endpoint, DUMMY)).toBe(`arn:aws:sts::${ACCOUNT_ID}:user/moto`);
    } finally {
      await plain.stop();
    }
    expect(await fetch(plain.endpoint).catch((e: unknown) => e)).toBeInstanceOf(Error);
  });
});

describe("sts-gate", () => {
  const assumeViaGate = (session: string, extra: Partial<AssumeRoleInput> = {}): Promise<AssumedRole> =>
    assumeRole(gate.endpoint, moto.user, { roleArn: moto.roleArn("role-a"), roleSessionName: session, ...extra });

  test("AssumeRole signed for the gate's Host verifies upstream, and is counted and logged", async () => {
    gate.reset();
    const creds = await assumeViaGate("through-gate", { durationSeconds: 900, externalId: "ext-1", tags: { team: "infra", env: "ci" } });
    expect(await getCallerIdentity(moto.endpoint, creds)).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/role-a/through-gate`);
    expect(gate.assumeRoleCalls).toBe(1);
    const call = gate.calls[0];
    expect(call).toMatchObject({
      seq: 1,
      roleArn: moto.roleArn("role-a"),
      roleSessionName: "through-gate",
      durationSeconds: 900,
      externalId: "ext-1",
      tags: { team: "infra", env: "ci" },
      accessKeyId: moto.user.accessKeyId,
      withSessionToken: false,
      status: 200,
      outcome: "forwarded",
    });
    // The gate saw moto's microseconds; the SDK rounds them to milliseconds.
    expect(Math.abs(Date.parse(call?.expiration ?? "") - creds.expiration.getTime())).toBeLessThanOrEqual(1);
    expect(call?.params["Tags.member.1.Key"]).toBe("team");
  });

  test("the AWS SDK for JavaScript (what credproxy uses) signs through the gate, session tokens too", async () => {
    gate.reset();
    const creds = await assumeRole(gate.endpoint, moto.user, { roleArn: moto.roleArn("role-b"), roleSessionName: "js-sdk", durationSeconds: 1800, tags: { k: "v" } });
    expect(creds.assumedRoleArn).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/role-b/js-sdk`);
    expect(await getCallerIdentity(gate.endpoint, creds)).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/role-b/js-sdk`);
    expect(gate.calls[0]).toMatchObject({ roleSessionName: "js-sdk", durationSeconds: 1800, tags: { k: "v" }, status: 200 });
    expect(gate.calls[0]?.userAgent).toContain("aws-sdk-js");
    expect(gate.requests.map((r) => [r.action, r.status])).toEqual([["AssumeRole", 200], ["GetCallerIdentity", 200]]);
  });

  test("other actions pass through uncounted, session tokens included; moto enforces trust policies", async () => {
    gate.reset();
    expect(await getCallerIdentity(gate.endpoint, moto.user)).toBe(`arn:aws:iam::${ACCOUNT_ID}:user/dev`);
    const first = await assumeViaGate("chain-1");
    expect(await getCallerIdentity(gate.endpoint, first)).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/role-a/chain-1`);
    // role-c trusts only user/dev, and moto checks the trust policy (exact principal match).
    const chained = await stsFailure(assumeRole(gate.endpoint, first, { roleArn: moto.roleArn("role-c"), roleSessionName: "chain-2" }));
    expect(chained.status).toBe(403);
    expect(chained.errorCode).toBe("AccessDenied");
    expect(gate.assumeRoleCalls).toBe(2);
    expect(gate.calls[1]).toMatchObject({ withSessionToken: true, accessKeyId: first.accessKeyId, status: 403, outcome: "forwarded" });
    expect(gate.requests.map((r) => r.action)).toEqual(["GetCallerIdentity", "AssumeRole", "GetCallerIdentity", "AssumeRole"]);
  });

  test("a wrong secret still fails through the gate", async () => {
    const r = await stsFailure(assumeRole(gate.endpoint, { ...moto.user, secretAccessKey: "nope" }, { roleArn: moto.roleArn("role-a"), roleSessionName: "x" }));
    expect(r.errorCode).toBe("SignatureDoesNotMatch");
  });

  test("without the original Host header the signature breaks (why the gate preserves it)", async () => {
    const rewriting = await startStsGate(moto.endpoint, { preserveHost: false });
    try {
      const r = await stsFailure(assumeRole(rewriting.endpoint, moto.user, { roleArn: moto.roleArn("role-a"), roleSessionName: "x" }));
      expect(r.status).toBe(403);
      expect(r.errorCode).toBe("SignatureDoesNotMatch");
      expect(rewriting.assumeRoleCalls).toBe(1);
    } finally {
      await rewriting.stop();
    }
  });

  test("down / error503 answers 503 ServiceUnavailable XML and counts the call", async () => {
    gate.reset();
    gate.down = true;
    expect(gate.mode).toBe("error503");
    const r = await stsFailure(assumeRole(gate.endpoint, moto.user, { roleArn: moto.roleArn("role-a"), roleSessionName: "x" }));
    // The SDK found STS's ErrorResponse shape in the body: code, type and message.
    expect(r.status).toBe(503);
    expect(r.errorCode).toBe("ServiceUnavailable");
    expect(r.type).toBe("Receiver");
    expect(r.message).toContain("sts-gate fault injection");
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(gate.calls[0]).toMatchObject({ status: 503, outcome: "error503" });
    gate.down = false;
    await assumeViaGate("after-503");
    expect(gate.assumeRoleCalls).toBe(2);
  });

  test("refuse closes the listener; up re-opens the same endpoint", async () => {
    gate.reset();
    gate.mode = "refuse";
    const err = await fetch(gate.endpoint, { method: "POST", body: "Action=AssumeRole" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).toBe("ECONNREFUSED");
    expect(gate.assumeRoleCalls).toBe(0);
    gate.mode = "up";
    await assumeViaGate("after-refuse");
    expect(gate.assumeRoleCalls).toBe(1);
  });

  test("hang holds requests until the mode changes", async () => {
    gate.reset();
    gate.mode = "hang";
    const held = assumeViaGate("held");
    await gate.waitForAssumeRoleCalls(1, 5000);
    // A second caller with a short client timeout gives up: nothing is answered.
    const abandoned = await assumeRole(gate.endpoint, moto.user, { roleArn: moto.roleArn("role-a"), roleSessionName: "gives-up" }, { timeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect((abandoned as Error).name).toBe("TimeoutError");
    expect(gate.calls[0]?.outcome).toBe("pending");
    gate.mode = "up";
    const creds = await held;
    expect(creds.assumedRoleArn).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/role-a/held`);
    expect(gate.calls[0]?.outcome).toBe("forwarded");
  });

  test("delayMs delays the answer", async () => {
    gate.reset();
    gate.delayMs = 400;
    const started = performance.now();
    await assumeViaGate("slow");
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    expect(gate.calls[0]?.durationMs).toBeGreaterThanOrEqual(390);
    gate.delayMs = 0;
  });

  test("accessDenied answers AssumeRole with 403 AccessDenied but forwards other actions", async () => {
    gate.reset();
    gate.accessDenied = true;
    const r = await stsFailure(assumeRole(gate.endpoint, moto.user, { roleArn: moto.roleArn("role-a"), roleSessionName: "denied" }));
    expect(r.status).toBe(403);
    expect(r.errorCode).toBe("AccessDenied");
    expect(r.type).toBe("Sender");
    expect(r.message).toContain(moto.roleArn("role-a"));
    expect(await getCallerIdentity(gate.endpoint, moto.user)).toBe(`arn:aws:iam::${ACCOUNT_ID}:user/dev`);
    expect(gate.calls[0]).toMatchObject({ status: 403, outcome: "accessDenied" });
  });

  test("ttlSeconds rewrites Expiration to now + ttl; credentials stay valid", async () => {
    gate.reset();
    const untouched = await assumeViaGate("ttl-default", { durationSeconds: 3600 });
    const defaultLeft = (untouched.expiration.getTime() - Date.now()) / 1000;
    expect(defaultLeft).toBeGreaterThan(3590);
    expect(defaultLeft).toBeLessThanOrEqual(3600);

    gate.ttlSeconds = 90;
    const short = await assumeViaGate("ttl-short", { durationSeconds: 3600 });
    const written = gate.calls[1]?.expiration ?? "";
    expect(written).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(short.expiration.getTime()).toBe(Date.parse(written));
    const left = (short.expiration.getTime() - Date.now()) / 1000;
    expect(left).toBeGreaterThan(85);
    expect(left).toBeLessThanOrEqual(91);
    expect(await getCallerIdentity(moto.endpoint, short)).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/role-a/ttl-short`);

    gate.ttlSeconds = -60;
    const expired = await assumeViaGate("ttl-expired");
    expect(expired.expiration.getTime()).toBeLessThan(Date.now());
  });

  test("waitForAssumeRoleCalls is event-driven and times out with a count", async () => {
    gate.reset();
    const waiting = gate.waitForAssumeRoleCalls(2, 5000);
    await Promise.all([assumeViaGate("w1"), assumeViaGate("w2")]);
    await waiting;
    const err = await gate.waitForAssumeRoleCalls(3, 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(String(err)).toContain("saw 2");
  });
});

/** ECS JSON wants whole seconds with Z (JS v3 rejects offsets; moto writes microseconds). */
function ecsExpiration(stsExpiration: Date): string {
  return stsExpiration.toISOString().replace(/\.\d{3}Z$/, "Z");
}

describe("real SDK clients through a static container-credentials endpoint", () => {
  const TOKEN = "harness-token-0123456789abcdef";
  let endpoint: Bun.Server<undefined>;
  let creds: AssumedRole;
  let tokenFile: string;
  let hits = 0;

  beforeAll(async () => {
    gate.reset();
    creds = await assumeRole(gate.endpoint, moto.user, { roleArn: moto.roleArn("role-a"), roleSessionName: "harness" });
    const body = (secret: string): string =>
      JSON.stringify({
        AccessKeyId: creds.accessKeyId,
        SecretAccessKey: secret,
        Token: creds.sessionToken,
        Expiration: ecsExpiration(creds.expiration),
        AccountId: ACCOUNT_ID,
        RoleArn: moto.roleArn("role-a"),
      });
    const expected = Buffer.from(TOKEN);
    endpoint = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        hits++;
        const got = Buffer.from(req.headers.get("authorization") ?? "");
        if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
          return Response.json({ Code: "AccessDenied", Message: "bad token" }, { status: 403 });
        }
        const path = new URL(req.url).pathname;
        if (path === "/creds") return new Response(body(creds.secretAccessKey), { headers: { "content-type": "application/json" } });
        if (path === "/tampered") return new Response(body(`${creds.secretAccessKey}x`), { headers: { "content-type": "application/json" } });
        return new Response("not found", { status: 404 });
      },
    });
    tokenFile = await writeTokenFile(TOKEN);
    expect(await Bun.file(tokenFile).text()).toBe(TOKEN); // no trailing newline: SDKs reject one
  });

  afterAll(async () => {
    await endpoint.stop(true);
  });

  const target = (how: "env" | "file", path = "/creds"): CredentialEndpoint => ({
    fullUri: `http://127.0.0.1:${endpoint.port}${path}`,
    stsEndpoint: moto.endpoint,
    ...(how === "env" ? { token: TOKEN } : { tokenFile }),
  });

  const expectedMethod: Record<ClientKind, string> = { boto3: "container-role", "aws-cli": "container-role", "js-sdk": "CREDENTIALS_HTTP" };

  for (const client of ["boto3", "aws-cli", "js-sdk"] as const) {
    test(`${client} prints the assumed-role ARN, with the token in env and in a file`, async () => {
      const before = hits;
      const results = await Promise.all([callerIdentity(client, target("env")), callerIdentity(client, target("file"))]);
      for (const r of results) {
        expect(r.arn).toBe(`arn:aws:sts::${ACCOUNT_ID}:assumed-role/role-a/harness`);
        expect(r.account).toBe(ACCOUNT_ID);
        expect(r.accessKeyId).toBe(creds.accessKeyId);
        expect(r.method).toBe(expectedMethod[client]);
        console.log(`${client}: ${r.arn} via ${r.method} in ${r.run.durationMs.toFixed(0)} ms`);
      }
      expect(hits - before).toBeGreaterThanOrEqual(2);
    });
  }

  test("a wrong token gets nothing, and tampered credentials fail at validating moto", async () => {
    const [wrong, tampered] = await Promise.all([
      runClient("boto3", { ...target("env"), token: "wrong-token" }),
      runClient("boto3", target("env", "/tampered")),
    ]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/CredentialRetrievalError|Unable to locate credentials|NoCredentialsError/);
    expect(tampered.code).not.toBe(0);
    expect(tampered.stderr).toContain("SignatureDoesNotMatch");
  });
});

describe("binary helpers", () => {
  let fake: string;

  beforeAll(async () => {
    const dir = await tempDir();
    fake = join(dir, "fake-credproxy");
    await writeFile(
      fake,
      [
        "#!/usr/bin/env bash",
        'if [ "${1:-}" = run ]; then echo "out: $*"; cat; echo "err line" >&2; exit 3; fi',
        'echo "args: $*" >&2',
        'env | sort | sed "s/^/env: /" >&2',
        'trap \'echo "got TERM" >&2; exit 7\' TERM',
        'echo \'{"level":"info","msg":"listening","port":4321}\' >&2',
        'if [ "${1:-}" = die ]; then exit 5; fi',
        // Short sleeps: a SIGKILLed script leaves no long-lived orphan behind.
        "while :; do sleep 0.05; done",
      ].join("\n"),
    );
    await chmod(fake, 0o755);
  });

  test("a missing binary fails with a clear message", () => {
    expect(() => credproxyBinary("/nonexistent/credproxy")).toThrow(MissingBinaryError);
    expect(() => credproxyBinary("/nonexistent/credproxy")).toThrow(/npm run build/);
  });

  test("spawnCredproxy: clean env, live lines, JSON logs, signals", async () => {
    process.env.AWS_ACCESS_KEY_ID = "AKIALEAKED";
    let cp: CredproxyProcess;
    try {
      cp = spawnCredproxy(["serve", "--flag"], { binary: fake, env: { EXTRA: "1" } });
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
    }
    expect((await cp.waitForLine(/^args: (.*)$/))[1]).toBe("serve --flag");
    const record = await cp.waitForLog((r) => r.msg === "listening");
    expect(record.port).toBe(4321);
    const env = cp.stderrLines.filter((l) => l.startsWith("env: ")).map((l) => l.slice(5).split("=")[0]);
    expect(env).not.toContain("AWS_ACCESS_KEY_ID");
    expect(cp.stderrLines).toContain("env: AWS_CONFIG_FILE=/dev/null");
    expect(cp.stderrLines).toContain("env: AWS_SHARED_CREDENTIALS_FILE=/dev/null");
    expect(cp.stderrLines).toContain("env: AWS_EC2_METADATA_DISABLED=true");
    expect(cp.stderrLines).toContain("env: EXTRA=1");
    expect(cp.env.HOME).toMatch(/credproxy-home-/);
    expect(await cp.kill("SIGTERM")).toEqual({ code: 7, signal: null });
    expect(cp.stderrLines).toContain("got TERM");
  });

  test("waitForLine rejects as soon as the process exits without the line", async () => {
    const cp = spawnCredproxy(["die"], { binary: fake });
    const started = performance.now();
    const err = await cp.waitForLine(/never printed/, 20_000).catch((e: unknown) => e);
    expect(String(err)).toContain("exited");
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await cp.exited).toEqual({ code: 5, signal: null });
  });

  test("runCredproxy returns code, stdout and stderr, with stdin", async () => {
    const r = await runCredproxy(["run", "x"], { binary: fake, stdin: "hello" });
    expect(r).toMatchObject({ code: 3, signal: null, stderr: "err line\n" });
    expect(r.stdout).toBe("out: run x\nhello");
  });

  test.skipIf(!existsSync(BINARY_PATH))("the built binary runs", async () => {
    const r = await runCredproxy(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("credproxy");
  });
});
