import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import type { AssumeRoleSpec } from "../config/types";
import { CredproxyError, ErrorCode } from "../errors";
import { startFakeSts } from "./_fake-sts-server";
import { createAssumeRoleProvider } from "./assume-role";
import type { CredentialProvider } from "./types";
import { rejection } from "./_rejection";

const sts = startFakeSts();
afterAll(() => sts.stop());
beforeEach(() => {
  sts.requests.length = 0;
  sts.reply = { kind: "ok" };
});

const ROLE = "arn:aws:iam::123456789012:role/dev";
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const staticSource: CredentialProvider = async () => ({ accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: SECRET });
const minimal: AssumeRoleSpec = { RoleArn: ROLE, RoleSessionName: "credproxy", DurationSeconds: 3600 };

function provider(params: AssumeRoleSpec = minimal, extra: { source?: CredentialProvider; endpoint?: string; onStsCall?: () => void } = {}) {
  return createAssumeRoleProvider({
    source: extra.source ?? staticSource,
    region: "us-east-1",
    stsEndpoint: extra.endpoint ?? sts.url,
    params,
    onStsCall: extra.onStsCall,
  });
}


describe("createAssumeRoleProvider", () => {
  test("returns the role credentials with the assumed-role ARN and the account taken from it", async () => {
    const creds = await provider()();
    expect(creds).toMatchObject({
      accessKeyId: "ASIAFAKESTSEXAMPLE01",
      secretAccessKey: "fake-secret",
      sessionToken: "fake-token",
      roleArn: ROLE,
      assumedRoleArn: "arn:aws:sts::123456789012:assumed-role/dev/credproxy",
      accountId: "123456789012",
    });
    expect(creds.expiration.getTime()).toBeGreaterThan(Date.now() + 3500_000);
  });

  test("takes the account from assumed-role ARNs in other partitions", async () => {
    sts.reply = { kind: "ok", arn: "arn:aws-cn:sts::210987654321:assumed-role/dev/credproxy" };
    expect((await provider()()).accountId).toBe("210987654321");
  });

  test("sends every configured AssumeRole parameter", async () => {
    const policy = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] });
    await provider({
      ...minimal,
      ExternalId: "ext-1",
      Policy: policy,
      PolicyArns: [{ arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }],
      Tags: [{ Key: "team", Value: "core" }],
      TransitiveTagKeys: ["team"],
      SerialNumber: "arn:aws:iam::123456789012:mfa/dev",
      TokenCode: "123456",
      SourceIdentity: "alice",
    })();
    expect(Object.fromEntries(sts.requests[0]!.params)).toEqual({
      Action: "AssumeRole",
      Version: "2011-06-15",
      RoleArn: ROLE,
      RoleSessionName: "credproxy",
      DurationSeconds: "3600",
      ExternalId: "ext-1",
      Policy: policy,
      "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
      "Tags.member.1.Key": "team",
      "Tags.member.1.Value": "core",
      "TransitiveTagKeys.member.1": "team",
      SerialNumber: "arn:aws:iam::123456789012:mfa/dev",
      TokenCode: "123456",
      SourceIdentity: "alice",
    });
  });

  test("leaves parameters that are not configured out of the request", async () => {
    await provider()();
    expect([...sts.requests[0]!.params.keys()].sort()).toEqual(["Action", "DurationSeconds", "RoleArn", "RoleSessionName", "Version"]);
  });

  test("signs with the source credentials, including their session token", async () => {
    const source: CredentialProvider = async () => ({ accessKeyId: "ASIASOURCEEXAMPLE001", secretAccessKey: SECRET, sessionToken: "src-token" });
    await provider(minimal, { source })();
    const headers = sts.requests[0]!.headers;
    expect(headers.get("authorization")).toContain("Credential=ASIASOURCEEXAMPLE001/");
    expect(headers.get("authorization")).toContain("/us-east-1/sts/aws4_request");
    expect(headers.get("x-amz-security-token")).toBe("src-token");
  });

  test("makes exactly one request when STS fails, leaving retries to the cache", async () => {
    sts.reply = { kind: "error", status: 500, code: "InternalFailure", message: "try later" };
    let calls = 0;
    const err = await rejection(provider(minimal, { onStsCall: () => (calls += 1) })());
    expect(sts.requests).toHaveLength(1);
    expect(calls).toBe(1);
    expect(err.message).toBe(`sts:AssumeRole on ${ROLE} failed: InternalFailure: try later`);
  });

  const cases = [
    { code: "AccessDenied", status: 403, hint: "trust policy" },
    { code: "InvalidClientTokenId", status: 403, hint: "source credentials are wrong" },
    { code: "SignatureDoesNotMatch", status: 403, hint: "source credentials are wrong" },
    { code: "ExpiredToken", status: 400, hint: "session has expired" },
    { code: "RegionDisabledException", status: 403, hint: "not activated in region us-east-1" },
    { code: "MalformedPolicyDocument", status: 400, hint: "Policy" },
  ];
  for (const c of cases) {
    test(`an STS ${c.code} error keeps the AWS code and message and hints at the fix`, async () => {
      sts.reply = { kind: "error", status: c.status, code: c.code, message: `details of ${c.code}` };
      const err = await rejection(provider()());
      expect(err.code).toBe(ErrorCode.AssumeRole);
      expect(err.message).toBe(`sts:AssumeRole on ${ROLE} failed: ${c.code}: details of ${c.code}`);
      expect(err.hint).toContain(c.hint);
      expect(err.details).toMatchObject({ awsCode: c.code, httpStatus: c.status, roleArn: ROLE });
      expect(JSON.stringify([err.message, err.hint, err.details])).not.toContain(SECRET);
    });
  }

  test("AccessDenied with tags and a source identity also names sts:TagSession and sts:SetSourceIdentity", async () => {
    sts.reply = { kind: "error", status: 403, code: "AccessDenied", message: "no" };
    const err = await rejection(provider({ ...minimal, Tags: [{ Key: "a", Value: "b" }], SourceIdentity: "alice" })());
    expect(err.hint).toContain("sts:TagSession");
    expect(err.hint).toContain("sts:SetSourceIdentity");
  });

  test("an unreachable endpoint fails with a message naming that endpoint", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const endpoint = `http://127.0.0.1:${closed.port}`;
    closed.stop(true);
    const err = await rejection(provider(minimal, { endpoint })());
    expect(err.code).toBe(ErrorCode.AssumeRole);
    expect(err.message).toStartWith(`sts:AssumeRole on ${ROLE} failed as STS is unreachable at ${endpoint}: `);
    expect(err.hint).toContain(endpoint);
  });

  test("an endpoint that does not answer like STS fails with a hint to check it", async () => {
    sts.reply = { kind: "html", status: 502 };
    const err = await rejection(provider()());
    expect(err.message).toBe(`sts:AssumeRole on ${ROLE} failed: HTTP 502 with a response that is not from STS`);
    expect(err.hint).toContain(sts.url);
  });

  test("aborting the signal cancels the request and rejects with the abort reason", async () => {
    sts.reply = { kind: "hang" };
    const controller = new AbortController();
    const reason = new CredproxyError(ErrorCode.StsTimeout, "timed out");
    const pending = rejection(provider()(controller.signal));
    while (sts.requests.length === 0) await Bun.sleep(5);
    controller.abort(reason);
    expect(await pending).toBe(reason);
  });

  test("a source failure is passed on as E_SOURCE_CREDENTIALS without calling STS", async () => {
    const err = await rejection(provider(minimal, { source: async () => { throw new Error("no keys here"); } })());
    expect(err.code).toBe(ErrorCode.SourceCredentials);
    expect(err.message).toBe("Cannot load source credentials: no keys here");
    expect(sts.requests).toHaveLength(0);
  });
});
