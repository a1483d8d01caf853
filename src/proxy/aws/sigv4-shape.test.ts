import { describe, expect, test } from "bun:test";
import { classifySigV4, type SigV4Shape } from "./sigv4-shape.ts";

const SIG = "a".repeat(64);
const auth = (scope = "ASIAPLACEHOLDER00001/20260101/eu-west-1/s3/aws4_request", signed = "host;x-amz-content-sha256;x-amz-date") =>
  `AWS4-HMAC-SHA256 Credential=${scope}, SignedHeaders=${signed}, Signature=${SIG}`;
const reason = (shape: SigV4Shape) => (shape.kind === "refused" ? shape.refusal.code : shape.kind);

describe("classifySigV4: the signature shape of a request to an AWS-bound host", () => {
  test("header SigV4 with a payload hash keeps the client's key, scope and signed headers", () => {
    const shape = classifySigV4([["Authorization", auth()], ["X-Amz-Content-SHA256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]], "/bucket/key");
    expect(shape).toEqual({
      kind: "sigv4",
      keyId: "ASIAPLACEHOLDER00001",
      scopeDate: "20260101",
      region: "eu-west-1",
      service: "s3",
      signedHeaders: ["host", "x-amz-content-sha256", "x-amz-date"],
      payload: "hash",
    });
  });

  test("the payload modes that can be re-signed: UNSIGNED-PAYLOAD, the unsigned trailer, and none declared", () => {
    const mode = (sha?: string) => {
      const shape = classifySigV4([["authorization", auth()], ...(sha === undefined ? [] : [["x-amz-content-sha256", sha] as [string, string]])], "/");
      return shape.kind === "sigv4" ? shape.payload : reason(shape);
    };
    expect(mode("UNSIGNED-PAYLOAD")).toBe("unsigned");
    expect(mode("STREAMING-UNSIGNED-PAYLOAD-TRAILER")).toBe("unsigned-trailer");
    expect(mode(undefined)).toBe("body");
  });

  test("chunk-signed uploads with a signed trailer, and event streams, are refused with the SDK settings that avoid them", () => {
    for (const sha of ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-EVENTS"]) {
      const shape = classifySigV4([["authorization", auth()], ["x-amz-content-sha256", sha]], "/b/k");
      expect(reason(shape)).toBe("aws-chunk-signed");
      if (shape.kind === "refused") expect(shape.refusal.message).toContain("payload_signing_enabled");
    }
  });

  test("a presigned query is refused, and a junk Authorization beside it cannot hide it", () => {
    const presigned = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20260101&X-Amz-Signature=" + SIG;
    expect(reason(classifySigV4([], presigned))).toBe("aws-presigned");
    expect(reason(classifySigV4([["authorization", auth()]], presigned))).toBe("aws-presigned");
    expect(reason(classifySigV4([["authorization", "Bearer junk"]], "/b/k?x-amz-signature=" + SIG))).toBe("aws-presigned");
    expect(reason(classifySigV4([], "/b/k?X%2DAmz%2DSignature=" + SIG))).toBe("aws-presigned");
    expect(reason(classifySigV4([], "/b/k?AWSAccessKeyId=AKIA&Expires=1&Signature=x"))).toBe("aws-presigned");
  });

  test("SigV4A is refused, whether named by the algorithm, the region set or the payload mode", () => {
    expect(reason(classifySigV4([["authorization", `AWS4-ECDSA-P256-SHA256 Credential=ASIAPLACEHOLDER00001/20260101/s3/aws4_request, SignedHeaders=host, Signature=${SIG}`]], "/"))).toBe("aws-sigv4a");
    expect(reason(classifySigV4([["authorization", auth()], ["x-amz-region-set", "*"]], "/"))).toBe("aws-sigv4a");
    expect(reason(classifySigV4([["authorization", auth()], ["x-amz-content-sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"]], "/"))).toBe("aws-sigv4a");
  });

  test("unreadable and ambiguous signatures are refused, not guessed at", () => {
    expect(reason(classifySigV4([["authorization", "AWS4-HMAC-SHA256 Credential=x"]], "/"))).toBe("aws-malformed");
    expect(reason(classifySigV4([["authorization", auth("ASIAPLACEHOLDER00001/20260101/eu-west-1/s3")]], "/"))).toBe("aws-malformed");
    expect(reason(classifySigV4([["authorization", auth()], ["authorization", auth()]], "/"))).toBe("aws-ambiguous");
    expect(reason(classifySigV4([["authorization", auth()], ["x-amz-content-sha256", "SOMETHING-NEW"]], "/"))).toBe("aws-malformed");
    expect(reason(classifySigV4([["authorization", "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="]], "/"))).toBe("aws-sigv2");
  });

  test("a request without an AWS signature is not re-signed (anonymous S3, another scheme)", () => {
    expect(reason(classifySigV4([], "/public/object?versionId=3"))).toBe("unsigned");
    expect(reason(classifySigV4([["authorization", "Bearer x"]], "/"))).toBe("unsigned");
  });

  test("a Connection header naming a signed header is refused; naming an unsigned one is not", () => {
    const signed = "host;x-amz-content-sha256;x-amz-date;x-amz-meta-color";
    const refusedShape = classifySigV4([["authorization", auth(undefined, signed)], ["Connection", "keep-alive, X-Amz-Meta-Color"], ["x-amz-meta-color", "blue"]], "/b/k");
    expect(reason(refusedShape)).toBe("aws-connection-signed");
    if (refusedShape.kind === "refused") expect(refusedShape.refusal.message).toContain("x-amz-meta-color");
    expect(reason(classifySigV4([["authorization", auth(undefined, signed)], ["connection", "x-amz-date"]], "/b/k"))).toBe("aws-connection-signed");
    expect(reason(classifySigV4([["authorization", auth(undefined, signed)], ["connection", "keep-alive, x-unsigned"]], "/b/k"))).toBe("sigv4");
  });

  test("header names that differ only in case are one header: two spellings of Authorization or the payload hash are ambiguous", () => {
    expect(reason(classifySigV4([["Authorization", auth()], ["authorization", auth()]], "/"))).toBe("aws-ambiguous");
    expect(reason(classifySigV4([["authorization", auth()], ["X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"], ["x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]], "/"))).toBe("aws-ambiguous");
  });

  test("a presigned query hides behind no spelling: case, percent-encoding, repeated or empty values", () => {
    for (const query of ["x-amz-credential=a", "X-AMZ-SIGNATURE=", "%58-Amz-Signature=1", "a=1&X-Amz-Algorithm=AWS4-HMAC-SHA256", "awsaccesskeyid=AKIA", "X-Amz-Signature", "X-Amz-Security-Token=credproxyPlaceholder"]) {
      expect(reason(classifySigV4([["authorization", auth()]], `/b/k?${query}`))).toBe("aws-presigned");
    }
  });
});
