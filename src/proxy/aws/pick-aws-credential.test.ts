import { describe, expect, test } from "bun:test";
import { awsPlaceholders } from "./aws-placeholders.ts";
import { pickAwsCredential } from "./pick-aws-credential.ts";

const a = awsPlaceholders({ tenant: "ci-1", token: "tok-1", credential: "deploy" });
const b = awsPlaceholders({ tenant: "ci-1", token: "tok-1", credential: "read-only" });
const candidates = [
  { credential: "A", name: "deploy", placeholderKeyId: a.accessKeyId, realKeyIds: ["ASIAREALROLEKEY00001"] },
  { credential: "B", name: "read-only", placeholderKeyId: b.accessKeyId, realKeyIds: [] },
];

describe("the placeholder keys and the credential a signature selects", () => {
  test("placeholders are shaped like temporary credentials, stable, and differ per run and per credential", () => {
    expect(a.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(a.secretAccessKey).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(a.sessionToken.length).toBeGreaterThan(100);
    expect(awsPlaceholders({ tenant: "ci-1", token: "tok-1", credential: "deploy" })).toEqual(a);
    expect(awsPlaceholders({ tenant: "ci-2", token: "tok-2", credential: "deploy" }).accessKeyId).not.toBe(a.accessKeyId);
    expect(b.accessKeyId).not.toBe(a.accessKeyId);
  });

  test("the placeholder key id picks its own credential among several on the same host", () => {
    expect(pickAwsCredential(b.accessKeyId, candidates)).toEqual({ credential: "B", name: "read-only" });
    expect(pickAwsCredential(a.accessKeyId, candidates)).toEqual({ credential: "A", name: "deploy" });
  });

  test("a real key and an unknown key are refused, naming the key by its last four characters only", () => {
    const real = pickAwsCredential("ASIAREALROLEKEY00001", candidates);
    expect("refusal" in real && real.refusal.code).toBe("aws-real-key");
    expect(JSON.stringify(real)).not.toContain("ASIAREALROLEKEY");
    const unknown = pickAwsCredential("AKIAIOSFODNN7EXAMPLE", candidates);
    expect("refusal" in unknown && unknown.refusal.code).toBe("aws-unknown-key");
    expect("refusal" in unknown && unknown.refusal.message).toContain("…MPLE");
  });
});
