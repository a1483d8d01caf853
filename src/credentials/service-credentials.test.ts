import { afterAll, describe, expect, test } from "bun:test";
import type { ServiceSpec } from "../config/types";
import { CredproxyError, ErrorCode } from "../errors";
import { startFakeSts } from "./_fake-sts-server";
import { createServiceCredentials, withSourceInvalidation } from "./service-credentials";
import type { RoleCredentialProvider } from "./types";

const sts = startFakeSts();
afterAll(() => sts.stop());

const spec: ServiceSpec = {
  name: "web",
  authToken: "not-used-here",
  region: "eu-west-1",
  source: { kind: "static", accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
  stsEndpoint: sts.url,
  assumeRole: { RoleArn: "arn:aws:iam::123456789012:role/dev", RoleSessionName: "web", DurationSeconds: 3600 },
  origin: { kind: "static" },
};
const settings = { refreshBufferSeconds: 300, retryDelaySeconds: 60, requestTimeoutSeconds: 30 };

describe("createServiceCredentials", () => {
  test("composes source, AssumeRole and cache: ten concurrent requests make one STS call", async () => {
    let stsCalls = 0;
    const outcomes: string[] = [];
    const creds = createServiceCredentials(spec, settings, { onStsCall: () => (stsCalls += 1), onRefresh: (o) => outcomes.push(o) });
    const results = await Promise.all(Array.from({ length: 10 }, () => creds.get()));
    creds.stop();
    expect(stsCalls).toBe(1);
    expect(sts.requests).toHaveLength(1);
    expect(results[0]).toMatchObject({ roleArn: spec.assumeRole.RoleArn, accountId: "123456789012" });
    expect(sts.requests[0]!.headers.get("authorization")).toContain("/eu-west-1/sts/aws4_request");
    expect(outcomes).toEqual(["success"]);
    expect(creds.status()).toMatchObject({ state: "ready", serving: true });
  });

  test("an STS failure reaches the caller with the service name, the AWS code and the hint", async () => {
    sts.reply = { kind: "error", status: 403, code: "AccessDenied", message: "not allowed" };
    const creds = createServiceCredentials(spec, settings);
    const err = await creds.get().catch((e: unknown) => e);
    creds.stop();
    sts.reply = { kind: "ok" };
    expect(err).toBeInstanceOf(CredproxyError);
    expect((err as CredproxyError).message).toBe(
      "Cannot get credentials for service 'web': sts:AssumeRole on arn:aws:iam::123456789012:role/dev failed: AccessDenied: not allowed",
    );
    expect((err as CredproxyError).hint).toContain("trust policy");
  });
});

describe("withSourceInvalidation", () => {
  const failingWith = (awsCode: string): RoleCredentialProvider => async () => {
    throw new CredproxyError(ErrorCode.AssumeRole, "failed", { details: { awsCode } });
  };

  for (const code of ["InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"]) {
    test(`forgets the memoized source when STS answers ${code}`, async () => {
      let invalidated = 0;
      const fetch = withSourceInvalidation(failingWith(code), { description: "x", invalidate: () => (invalidated += 1) });
      await expect(fetch()).rejects.toThrow("failed");
      expect(invalidated).toBe(1);
    });
  }

  test("keeps the memoized source when the failure is not about the source credentials", async () => {
    let invalidated = 0;
    const fetch = withSourceInvalidation(failingWith("AccessDenied"), { description: "x", invalidate: () => (invalidated += 1) });
    await expect(fetch()).rejects.toThrow("failed");
    expect(invalidated).toBe(0);
  });
});
