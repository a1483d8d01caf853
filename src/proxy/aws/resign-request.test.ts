import { describe, expect, test } from "bun:test";
import { createHash, createHmac } from "node:crypto";
import { resignRequest } from "./resign-request.ts";
import { classifySigV4, type HeaderSignedRequest } from "./sigv4-shape.ts";

// The AWS SigV4 test suite's credentials and its get-vanilla case (signature from the suite).
const SUITE = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const VANILLA_SIGNATURE = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
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
    const out = await resignRequest({ method: "GET", target: "/", headers, shape: shapeOf(headers, "/"), credentials: SUITE });
    expect(out.authorization).toBe(`AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${VANILLA_SIGNATURE}`);
  });

  test("a service other than S3 signs the normalised path: /./ is signed as / (the suite's get-slash-dot-slash)", async () => {
    const headers = { host: "example.amazonaws.com", "x-amz-date": "20150830T123600Z", authorization: placeholderAuth("20150830/us-east-1/service", "host;x-amz-date") };
    const out = await resignRequest({ method: "GET", target: "/./", headers, shape: shapeOf(headers, "/./"), credentials: SUITE });
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
    const out = await resignRequest({ method: "POST", target, headers, shape: shapeOf(headers, target), credentials: ROLE });
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
    const out = await resignRequest({ method: "POST", target: "/", headers, shape: shapeOf(headers, "/"), credentials: ROLE, body });
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
});
