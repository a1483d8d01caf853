import { describe, expect, test } from "bun:test";
import { isCredproxyError } from "../errors.ts";
import { isPresignedUrl, regionFromStreamHost, signStreamUpgrade } from "./sign-upgrade.ts";

/*
 * Known answers computed independently, twice, and found equal: with botocore 1.43.11's
 * SigV4Auth, and with a 30-line hashlib/hmac SigV4 written from the AWS spec. Both form-decode
 * the query first, as the Go signer in session-manager-plugin does (url.ParseQuery). The botocore
 * half, per vector:
 *
 *   u = urlsplit(url); params = parse_qsl(u.query, keep_blank_values=True)
 *   req = AWSRequest(method="GET", url="https://" + u.netloc + u.path, params=params)
 *   with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: datetime(2026,12,3,8,15,30)):
 *       SigV4Auth(Credentials(akid, secret, token), "ssmmessages", region).add_auth(req)
 *   print(dict(req.headers))
 */
const date = new Date("2026-12-03T08:15:30Z");
const exampleKeys = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };

describe("signStreamUpgrade", () => {
  test("a cell-number with + and / and a session token signs to botocore's answer", async () => {
    const headers = await signStreamUpgrade({
      url: "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/alice-0a1b2c3d4e5f67890?role=publish_subscribe&cell-number=AAEAAX+Ab/cd9E=",
      credentials: { ...exampleKeys, sessionToken: "FQoGZXIvYXdzEXAMPLE//token+with/slashes==" },
      date,
    });
    expect(headers).toEqual({
      Authorization:
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/eu-west-1/ssmmessages/aws4_request, " +
        "SignedHeaders=host;x-amz-date;x-amz-security-token, " +
        "Signature=062d71ad1840be263bd539a1d8ab727ce7d07996b2475e0dfeea10b885332446",
      "X-Amz-Date": "20261203T081530Z",
      "X-Amz-Security-Token": "FQoGZXIvYXdzEXAMPLE//token+with/slashes==",
    });
  });

  test("long-term keys sign host and x-amz-date only, and send no token header", async () => {
    const headers = await signStreamUpgrade({
      url: "wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/bob-0123456789abcdef0?role=publish_subscribe",
      credentials: exampleKeys,
      date,
    });
    expect(headers).toEqual({
      Authorization:
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/ssmmessages/aws4_request, " +
        "SignedHeaders=host;x-amz-date, Signature=ac62896c33e968bae0fa39cd5898595cbe8ff5590c23f14fb7c618bf7aa58091",
      "X-Amz-Date": "20261203T081530Z",
    });
  });

  test("a VPC-endpoint host gives the region, and a percent-encoded %2B stays a plus", async () => {
    const headers = await signStreamUpgrade({
      url: "wss://vpce-0abc123-def456.ssmmessages.ap-southeast-2.vpce.amazonaws.com/v1/data-channel/carol-0fedcba9876543210?role=publish_subscribe&cell-number=Zm9v%2Bbar%2F%3D%3D",
      credentials: { accessKeyId: "ASIAEXAMPLE2", secretAccessKey: "secret/with+plus", sessionToken: "tok" },
      date,
    });
    expect(headers["Authorization"]).toBe(
      "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE2/20261203/ap-southeast-2/ssmmessages/aws4_request, " +
        "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=b36f76a1999ff832082adbe402ecdc84a6b3b4c1cc85fe5a35ff7b5c669c3b5c",
    );
  });

  test("a raw + and an encoded %2B in the cell-number sign differently", async () => {
    const sign = (cell: string) =>
      signStreamUpgrade({ url: `wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s-1?role=publish_subscribe&cell-number=${cell}`, credentials: exampleKeys, date });
    expect((await sign("a+b"))["Authorization"]).not.toBe((await sign("a%2Bb"))["Authorization"]);
    expect((await sign("a+b"))["Authorization"]).toBe((await sign("a%20b"))["Authorization"]);
  });

  test("a different secret gives a different signature for the same request", async () => {
    const url = "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/alice-0a1b2c3d4e5f67890?role=publish_subscribe&cell-number=AAEAAX+Ab/cd9E=";
    const a = await signStreamUpgrade({ url, credentials: exampleKeys, date });
    const b = await signStreamUpgrade({ url, credentials: { ...exampleKeys, secretAccessKey: exampleKeys.secretAccessKey + "x" }, date });
    expect(a["X-Amz-Date"]).toBe(b["X-Amz-Date"]!);
    expect(a["Authorization"]).not.toBe(b["Authorization"]);
  });

  test("an explicit region wins over the host (an overridden stream endpoint)", async () => {
    const headers = await signStreamUpgrade({ url: "wss://stream.example.invalid/v1/data-channel/s-1?role=publish_subscribe", credentials: exampleKeys, date, region: "eu-north-1" });
    expect(headers["Authorization"]).toContain("/20261203/eu-north-1/ssmmessages/aws4_request");
  });

  test("a host without a region and no region given is a usage error that asks for --region", async () => {
    const error = await signStreamUpgrade({ url: "wss://stream.example.invalid/x", credentials: exampleKeys, date }).catch((e: unknown) => e);
    expect(isCredproxyError(error)).toBe(true);
    expect((error as { hint: string }).hint).toContain("--region");
  });

  test("a presigned stream URL is sent without signature headers", async () => {
    const url = "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s-1?role=publish_subscribe&X-Amz-Signature=abc";
    expect(await signStreamUpgrade({ url, credentials: exampleKeys, date })).toEqual({});
  });

  test("the signing time defaults to now", async () => {
    const before = new Date();
    const headers = await signStreamUpgrade({ url: "wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/s-1", credentials: exampleKeys });
    const stamp = headers["X-Amz-Date"]!;
    const signedAt = Date.parse(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13)}`);
    expect(signedAt).toBeGreaterThanOrEqual(Math.floor(before.getTime() / 1000) * 1000);
  });
});

describe("regionFromStreamHost", () => {
  test("reads the label after ssmmessages in public, China, FIPS and VPC-endpoint hosts", () => {
    expect(regionFromStreamHost("ssmmessages.us-east-1.amazonaws.com")).toBe("us-east-1");
    expect(regionFromStreamHost("ssmmessages.cn-north-1.amazonaws.com.cn")).toBe("cn-north-1");
    expect(regionFromStreamHost("ssmmessages-fips.us-gov-west-1.amazonaws.com")).toBe("us-gov-west-1");
    expect(regionFromStreamHost("vpce-0abc-def.ssmmessages.eu-central-2.vpce.amazonaws.com")).toBe("eu-central-2");
  });

  test("finds nothing in hosts that are not ssmmessages", () => {
    expect(regionFromStreamHost("127.0.0.1")).toBeUndefined();
    expect(regionFromStreamHost("ssm.us-east-1.amazonaws.com")).toBeUndefined();
    expect(regionFromStreamHost("ssmmessages.amazonaws.com")).toBeUndefined();
  });
});

test("isPresignedUrl spots X-Amz-* signature parameters in any case and nothing else", () => {
  expect(isPresignedUrl(new URL("wss://h.invalid/?x-amz-credential=a"))).toBe(true);
  expect(isPresignedUrl(new URL("wss://h.invalid/?role=publish_subscribe&cell-number=x"))).toBe(false);
});
