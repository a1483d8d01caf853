import { describe, expect, test } from "bun:test";
import { createHash, createHmac } from "node:crypto";
import { resignRequest, s3CanonicalPath } from "./resign-request.ts";
import { classifySigV4, type HeaderSignedRequest } from "./sigv4-shape.ts";

// The AWS SigV4 test suite's credentials and its get-vanilla case (signature from the suite).
const SUITE = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const VANILLA_SIGNATURE = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
const SUITE_NOW = new Date("2015-08-30T12:36:00Z");
/** The proxy's clock in the tests whose client dated its request 20260101T101010Z. */
const CLIENT_NOW = new Date("2026-01-01T10:12:00Z");
const ROLE = { accessKeyId: "ASIAROLEKEY000000001", secretAccessKey: "role-secret-0123456789012345678901234567", sessionToken: "role-session-token" };

function placeholderAuth(scope: string, signed: string): string {
  return `AWS4-HMAC-SHA256 Credential=ASIAPLACEHOLDER00001/${scope}/aws4_request, SignedHeaders=${signed}, Signature=${"0".repeat(64)}`;
}

function shapeOf(headers: Record<string, string>, target: string): HeaderSignedRequest {
  const shape = classifySigV4(Object.entries(headers), target);
  if (shape.kind !== "sigv4") throw new Error(`not header SigV4: ${JSON.stringify(shape)}`);
  return shape;
}

/** An independent SigV4 of the canonical request we expect (the suite's recipe, by hand, for the test only). */
function expectedSignature(canonical: string, scope: string, amzDate: string, secret: string): string {
  const hmac = (key: string | Buffer, text: string) => createHmac("sha256", key).update(text).digest();
  const [date, region, service] = scope.split("/") as [string, string, string];
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
  const toSign = ["AWS4-HMAC-SHA256", amzDate, `${scope}/aws4_request`, createHash("sha256").update(canonical).digest("hex")].join("\n");
  return createHmac("sha256", key).update(toSign).digest("hex");
}

describe("resignRequest: the client's placeholder signature replaced by the role's", () => {
  test("the AWS suite's get-vanilla request, re-signed with the suite's keys, has the suite's signature", async () => {
    const headers = { host: "example.amazonaws.com", "x-amz-date": "20150830T123600Z", authorization: placeholderAuth("20150830/us-east-1/service", "host;x-amz-date") };
    const out = await resignRequest({ method: "GET", target: "/", headers, shape: shapeOf(headers, "/"), credentials: SUITE, now: SUITE_NOW });
    expect(out.authorization).toBe(`AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${VANILLA_SIGNATURE}`);
  });

  test("a service other than S3 signs the normalised path: /./ is signed as / (the suite's get-slash-dot-slash)", async () => {
    const headers = { host: "example.amazonaws.com", "x-amz-date": "20150830T123600Z", authorization: placeholderAuth("20150830/us-east-1/service", "host;x-amz-date") };
    const out = await resignRequest({ method: "GET", target: "/./", headers, shape: shapeOf(headers, "/./"), credentials: SUITE, now: SUITE_NOW });
    expect(String(out.authorization)).toEndWith(`Signature=${VANILLA_SIGNATURE}`);
  });

  test("S3 signs the path exactly as sent, with the role's session token and the client's payload mode", async () => {
    const target = "/bucket/a%20b/../c.txt?uploads&x-id=CreateMultipartUpload";
    const headers = {
      host: "s3.eu-west-1.amazonaws.com",
      "x-amz-date": "20260101T101010Z",
      "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      "x-amz-security-token": "placeholder-token",
      "x-amz-trailer": "x-amz-checksum-crc32",
      "x-forwarded-for": "10.0.0.1",
      "user-agent": "unsigned-agent",
      authorization: placeholderAuth("20260101/eu-west-1/s3", "host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-trailer;x-forwarded-for"),
    };
    const out = await resignRequest({ method: "POST", target, headers, shape: shapeOf(headers, target), credentials: ROLE, now: CLIENT_NOW });
    const canonical = [
      "POST",
      "/bucket/a%20b/../c.txt",
      "uploads=&x-id=CreateMultipartUpload",
      "host:s3.eu-west-1.amazonaws.com",
      "x-amz-content-sha256:STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      "x-amz-date:20260101T101010Z",
      "x-amz-security-token:role-session-token",
      "x-amz-trailer:x-amz-checksum-crc32",
      "",
      "host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-trailer",
      "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    ].join("\n");
    const signature = expectedSignature(canonical, "20260101/eu-west-1/s3", "20260101T101010Z", ROLE.secretAccessKey);
    expect(out.authorization).toBe(`AWS4-HMAC-SHA256 Credential=ASIAROLEKEY000000001/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-trailer, Signature=${signature}`);
    expect(out["x-amz-security-token"]).toBe("role-session-token");
    expect(out["x-forwarded-for"]).toBe("10.0.0.1"); // forwarded, but never signed: a later hop may rewrite it
    expect(out["user-agent"]).toBe("unsigned-agent");
  });

  test("without a declared payload hash the body is hashed (a form POST to STS)", async () => {
    const body = new TextEncoder().encode("Action=GetCallerIdentity&Version=2011-06-15");
    const headers = {
      host: "sts.amazonaws.com",
      "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      "x-amz-date": "20260101T101010Z",
      "x-amz-security-token": "placeholder-token",
      authorization: placeholderAuth("20260101/us-east-1/sts", "content-type;host;x-amz-date;x-amz-security-token"),
    };
    const out = await resignRequest({ method: "POST", target: "/", headers, shape: shapeOf(headers, "/"), credentials: ROLE, body, now: CLIENT_NOW });
    const canonical = [
      "POST",
      "/",
      "",
      "content-type:application/x-www-form-urlencoded; charset=utf-8",
      "host:sts.amazonaws.com",
      "x-amz-date:20260101T101010Z",
      "x-amz-security-token:role-session-token",
      "",
      "content-type;host;x-amz-date;x-amz-security-token",
      createHash("sha256").update(body).digest("hex"),
    ].join("\n");
    expect(String(out.authorization)).toEndWith(`Signature=${expectedSignature(canonical, "20260101/us-east-1/sts", "20260101T101010Z", ROLE.secretAccessKey)}`);
  });

  test("an X-Amz-Date outside the scope's day is not trusted: the request is signed for now", async () => {
    const headers = { host: "example.amazonaws.com", "x-amz-date": "20990101T000000Z", authorization: placeholderAuth("20260101/us-east-1/service", "host;x-amz-date") };
    const out = await resignRequest({ method: "GET", target: "/", headers, shape: shapeOf(headers, "/"), credentials: SUITE, now: new Date("2026-01-01T12:00:00Z") });
    expect(out["x-amz-date"]).toBe("20260101T120000Z");
  });

  test("an X-Amz-Date more than 15 minutes from the proxy's clock, even inside its scope's day, is signed for now", async () => {
    const headers = { host: "example.amazonaws.com", "x-amz-date": "20260101T235900Z", authorization: placeholderAuth("20260101/us-east-1/service", "host;x-amz-date") };
    const late = await resignRequest({ method: "GET", target: "/", headers, shape: shapeOf(headers, "/"), credentials: SUITE, now: new Date("2026-01-01T12:00:00Z") });
    expect(late["x-amz-date"]).toBe("20260101T120000Z");
    expect(String(late.authorization)).toContain("/20260101/us-east-1/service/aws4_request");
    const close = await resignRequest({ method: "GET", target: "/", headers, shape: shapeOf(headers, "/"), credentials: SUITE, now: new Date("2026-01-01T23:50:00Z") });
    expect(close["x-amz-date"]).toBe("20260101T235900Z"); // within the skew AWS allows: the client's own date
  });

  test("S3's path: dot segments and doubled slashes kept, percent-encodings in the one form S3 computes", () => {
    expect(s3CanonicalPath("/bucket/a/../b//c.txt")).toBe("/bucket/a/../b//c.txt");
    expect(s3CanonicalPath("/bucket/dir/big%20object.bin")).toBe("/bucket/dir/big%20object.bin"); // what SDKs send: unchanged
    expect(s3CanonicalPath("/bucket/%41%7e%7E-_.txt")).toBe("/bucket/A~~-_.txt");
    expect(s3CanonicalPath("/bucket/enc%2Fslash%2f.txt")).toBe("/bucket/enc/slash/.txt");
    expect(s3CanonicalPath("/bucket/q%3f%2B(x)*!'")).toBe("/bucket/q%3F%2B%28x%29%2A%21%27");
    expect(s3CanonicalPath("/bucket/%zz/%FF")).toBe("/bucket/%zz/%FF"); // undecodable: as sent (S3 refuses it)
  });

  test("an S3 request with a non-canonical spelling is signed for the path S3 computes, and forwarded as sent", async () => {
    const target = "/bucket/pct%41%2fslash.txt";
    const headers = { host: "s3.amazonaws.com", "x-amz-date": "20260101T101010Z", "x-amz-content-sha256": "UNSIGNED-PAYLOAD", authorization: placeholderAuth("20260101/us-east-1/s3", "host;x-amz-content-sha256;x-amz-date") };
    const out = await resignRequest({ method: "GET", target, headers, shape: shapeOf(headers, target), credentials: SUITE, now: CLIENT_NOW });
    const canonical = ["GET", "/bucket/pctA/slash.txt", "", "host:s3.amazonaws.com", "x-amz-content-sha256:UNSIGNED-PAYLOAD", "x-amz-date:20260101T101010Z", "", "host;x-amz-content-sha256;x-amz-date", "UNSIGNED-PAYLOAD"].join("\n");
    expect(String(out.authorization)).toEndWith(`Signature=${expectedSignature(canonical, "20260101/us-east-1/s3", "20260101T101010Z", SUITE.secretAccessKey)}`);
  });

  test("a signed header sent twice (names differing only in case) is signed as SigV4 joins it, in the order sent", async () => {
    const headers: Record<string, string | string[]> = { host: "s3.amazonaws.com", "x-amz-date": "20260101T101010Z", "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-meta-a": ["1", "2"], authorization: placeholderAuth("20260101/us-east-1/s3", "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a") };
    const shape = classifySigV4([["authorization", headers.authorization as string], ["X-Amz-Meta-A", "1"], ["x-amz-meta-a", "2"], ["x-amz-content-sha256", "UNSIGNED-PAYLOAD"]], "/b/k") as HeaderSignedRequest;
    const out = await resignRequest({ method: "GET", target: "/b/k", headers, shape, credentials: SUITE, now: CLIENT_NOW });
    const canonical = ["GET", "/b/k", "", "host:s3.amazonaws.com", "x-amz-content-sha256:UNSIGNED-PAYLOAD", "x-amz-date:20260101T101010Z", "x-amz-meta-a:1,2", "", "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a", "UNSIGNED-PAYLOAD"].join("\n");
    expect(String(out.authorization)).toEndWith(`Signature=${expectedSignature(canonical, "20260101/us-east-1/s3", "20260101T101010Z", SUITE.secretAccessKey)}`);
    expect(out["x-amz-meta-a"]).toEqual(["1", "2"]); // still two lines upstream
  });
});
