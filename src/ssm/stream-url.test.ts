import { describe, expect, test } from "bun:test";
import { ErrorCode } from "../errors.ts";
import { checkStreamUrl, insecureStreamUrlFromEnv, isStreamHost } from "./stream-url.ts";

describe("stream URL check", () => {
  test("wss on public, China, FIPS and VPC endpoint ssmmessages hosts is accepted", () => {
    for (const host of [
      "ssmmessages.eu-west-1.amazonaws.com",
      "ssmmessages.cn-north-1.amazonaws.com.cn",
      "ssmmessages-fips.us-gov-west-1.amazonaws.com",
      "vpce-0abc123-xyz.ssmmessages.us-east-1.vpce.amazonaws.com",
    ]) {
      expect(checkStreamUrl(`wss://${host}/v1/data-channel/s-1?role=publish_subscribe&cell-number=a+b/c=`, false).hostname).toBe(host);
    }
  });

  test("ws://, other hosts and look-alike suffixes are refused with E_SSM_SETTING", () => {
    for (const url of [
      "ws://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s",
      "wss://ssmmessages.eu-west-1.amazonaws.com.example.invalid/v1",
      "wss://evil.invalid/v1/data-channel/s",
      "wss://ssm.eu-west-1.amazonaws.com/v1",
      "https://ssmmessages.eu-west-1.amazonaws.com/v1",
    ]) {
      expect(() => checkStreamUrl(url, false)).toThrow(expect.objectContaining({ code: ErrorCode.SsmSetting }));
    }
  });

  test("--stream-endpoint admits one more host, over wss:// only, compared host:port and case-blind", () => {
    const url = "wss://Relay.Example.Invalid:8443/v1/data-channel/s-1?role=publish_subscribe";
    expect(checkStreamUrl(url, false, "relay.example.invalid:8443").hostname).toBe("relay.example.invalid");
    expect(() => checkStreamUrl(url, false, "relay.example.invalid")).toThrow(expect.objectContaining({ code: ErrorCode.SsmSetting }));
    expect(() => checkStreamUrl("ws://relay.example.invalid/v1", false, "relay.example.invalid")).toThrow(/--stream-endpoint/);
    expect(() => checkStreamUrl("wss://other.example.invalid/v1", false, "relay.example.invalid")).toThrow(/relay\.example\.invalid \(--stream-endpoint\)/);
    expect(checkStreamUrl("wss://ssmmessages.eu-west-1.amazonaws.com/v1", false, "relay.example.invalid").hostname).toBe("ssmmessages.eu-west-1.amazonaws.com");
  });

  test("the insecure switch admits ws:// to any host but still no other scheme", () => {
    expect(checkStreamUrl("ws://127.0.0.1:9/v1", true).port).toBe("9");
    expect(() => checkStreamUrl("http://127.0.0.1:9/v1", true)).toThrow();
  });

  test("the switch is read from CREDPROXY_INSECURE_STREAM_URL=1 only", () => {
    expect(insecureStreamUrlFromEnv({ CREDPROXY_INSECURE_STREAM_URL: "1" })).toBe(true);
    expect(insecureStreamUrlFromEnv({ CREDPROXY_INSECURE_STREAM_URL: "true" })).toBe(false);
    expect(insecureStreamUrlFromEnv({})).toBe(false);
    expect(isStreamHost("SSMMESSAGES.us-east-1.AMAZONAWS.COM")).toBe(true);
  });
});
