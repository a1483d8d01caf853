import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { CredproxyError, ErrorCode } from "../errors";
import { getCallerIdentity, getSessionToken, principalArn } from "./session-token";
import { rejection } from "./_rejection";

interface Seen {
  params: Record<string, string>;
  sessionToken: string | null;
}
const seen: Seen[] = [];
let reply: "ok" | "denied" = "ok";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const params = Object.fromEntries(new URLSearchParams(await req.text()));
    seen.push({ params, sessionToken: req.headers.get("x-amz-security-token") });
    const xml = (body: string, status = 200) => new Response(body, { status, headers: { "content-type": "text/xml" } });
    if (reply === "denied") {
      return xml(
        `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>MultiFactorAuthentication failed with invalid MFA one time pass code.</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
        403,
      );
    }
    if (params.Action === "GetSessionToken") {
      const exp = new Date(Date.now() + Number(params.DurationSeconds) * 1000).toISOString();
      return xml(
        `<GetSessionTokenResponse><GetSessionTokenResult><Credentials><AccessKeyId>ASIASESSIONEXAMPLE01</AccessKeyId><SecretAccessKey>session-secret</SecretAccessKey><SessionToken>session-token</SessionToken><Expiration>${exp}</Expiration></Credentials></GetSessionTokenResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetSessionTokenResponse>`,
      );
    }
    return xml(
      `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    );
  },
});
afterAll(() => server.stop(true));
beforeEach(() => {
  seen.length = 0;
  reply = "ok";
});

const opts = { region: "us-east-1", stsEndpoint: `http://127.0.0.1:${server.port}` };
const LONG = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

describe("getSessionToken", () => {
  test("sends DurationSeconds (and SerialNumber/TokenCode with MFA) and returns the session", async () => {
    const s = await getSessionToken(LONG, { durationSeconds: 900 }, opts);
    expect(s).toMatchObject({ accessKeyId: "ASIASESSIONEXAMPLE01", sessionToken: "session-token" });
    expect(s.expiration.getTime()).toBeGreaterThan(Date.now() + 800_000);
    expect(seen[0]!.params).toMatchObject({ Action: "GetSessionToken", DurationSeconds: "900" });
    expect(seen[0]!.params.SerialNumber).toBeUndefined();

    await getSessionToken(LONG, { durationSeconds: 43200, serialNumber: "arn:aws:iam::123456789012:mfa/alice", tokenCode: "123456" }, opts);
    expect(seen[1]!.params).toMatchObject({ SerialNumber: "arn:aws:iam::123456789012:mfa/alice", TokenCode: "123456", DurationSeconds: "43200" });
    expect(seen.length).toBe(2);
  });

  test("an STS error becomes a CredproxyError with the AWS code and an MFA hint, never the code", async () => {
    reply = "denied";
    const err = await rejection(getSessionToken(LONG, { durationSeconds: 900, serialNumber: "arn:aws:iam::123456789012:mfa/alice", tokenCode: "654321" }, opts));
    expect(err).toBeInstanceOf(CredproxyError);
    const e = err as CredproxyError;
    expect(e.code).toBe(ErrorCode.AssumeRole);
    expect(e.details?.awsCode).toBe("AccessDenied");
    expect(e.hint).toContain("MFA code");
    expect(`${e.message} ${e.hint}`).not.toContain("654321");
    expect(seen.length).toBe(1); // maxAttempts 1
  });
});

describe("getCallerIdentity and principalArn", () => {
  test("reads Arn and Account", async () => {
    expect(await getCallerIdentity({ ...LONG, sessionToken: "t" }, opts)).toEqual({ arn: "arn:aws:iam::123456789012:user/alice", accountId: "123456789012" });
    expect(seen[0]!.sessionToken).toBe("t");
  });

  test("an assumed-role ARN maps to its role; others stay", () => {
    expect(principalArn("arn:aws:sts::123456789012:assumed-role/dev/sess")).toBe("arn:aws:iam::123456789012:role/dev");
    expect(principalArn("arn:aws-cn:sts::123456789012:assumed-role/dev/a/b")).toBe("arn:aws-cn:iam::123456789012:role/dev");
    expect(principalArn("arn:aws:iam::123456789012:user/alice")).toBe("arn:aws:iam::123456789012:user/alice");
  });
});
