import { describe, expect, test } from "bun:test";
import { formatExpiration, toEcsResponse } from "./ecs-response";
import type { RoleCredentials } from "./types";

const creds: RoleCredentials = {
  accessKeyId: "ASIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  sessionToken: "FQoGZXIvYXdzEXAMPLE",
  expiration: new Date("2026-11-22T12:16:47.999Z"),
  roleArn: "arn:aws:iam::123456789012:role/dev",
  accountId: "123456789012",
  assumedRoleArn: "arn:aws:sts::123456789012:assumed-role/dev/credproxy",
};

describe("toEcsResponse", () => {
  test("maps role credentials to exactly the six ECS container-credentials fields", () => {
    expect(toEcsResponse(creds)).toEqual({
      AccessKeyId: "ASIAIOSFODNN7EXAMPLE",
      SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      Token: "FQoGZXIvYXdzEXAMPLE",
      Expiration: "2026-11-22T12:16:47Z",
      RoleArn: "arn:aws:iam::123456789012:role/dev",
      AccountId: "123456789012",
    });
  });
});

describe("formatExpiration", () => {
  test("truncates fractional seconds down instead of rounding up", () => {
    expect(formatExpiration(new Date("2026-11-22T12:16:47.999Z"))).toBe("2026-11-22T12:16:47Z");
  });

  test("writes whole seconds unchanged", () => {
    expect(formatExpiration(new Date("2026-01-02T03:04:05Z"))).toBe("2026-01-02T03:04:05Z");
  });

  test("writes UTC with a Z suffix whatever the input offset", () => {
    expect(formatExpiration(new Date("2026-06-30T23:59:59.5-07:00"))).toBe("2026-07-01T06:59:59Z");
  });

  test("always has the YYYY-MM-DDTHH:MM:SSZ shape", () => {
    for (const ms of [0, 1, 999, 1_000, 1_767_225_599_999]) {
      expect(formatExpiration(new Date(ms))).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    }
  });
});
