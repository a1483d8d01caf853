import { describe, expect, test } from "bun:test";
import { checkClientVersion, compareVersions, DEFAULT_CLIENT_VERSION, MINIMUM_CLIENT_VERSION } from "./client-version.ts";
import { buildOpenDataChannelFrame } from "./open-data-channel.ts";

const CLIENT_ID = "0b7e8d5c-2f4a-4c1e-9d3b-6a5f4e3d2c1b";
const REQUEST_ID = "5c0f2a9e-8b7d-4e6c-a5b4-3c2d1e0f9a8b";

describe("buildOpenDataChannelFrame()", () => {
  test("writes the plugin's five fields in the plugin's order", () => {
    const frame = buildOpenDataChannelFrame({ tokenValue: "tok+en/==", clientId: CLIENT_ID, requestId: REQUEST_ID });
    expect(frame).toBe(
      `{"MessageSchemaVersion":"1.0","RequestId":"${REQUEST_ID}","TokenValue":"tok+en/==","ClientId":"${CLIENT_ID}","ClientVersion":"${DEFAULT_CLIENT_VERSION}"}`,
    );
  });

  test("sends a ClientVersion at or above the documented minimum by default", () => {
    const frame = JSON.parse(buildOpenDataChannelFrame({ tokenValue: "t", clientId: CLIENT_ID, requestId: REQUEST_ID }));
    expect(compareVersions(frame.ClientVersion, MINIMUM_CLIENT_VERSION)).toBeGreaterThanOrEqual(0);
  });

  test("lowercases the UUIDs it is given", () => {
    const frame = JSON.parse(buildOpenDataChannelFrame({ tokenValue: "t", clientId: CLIENT_ID.toUpperCase(), requestId: REQUEST_ID.toUpperCase() }));
    expect([frame.ClientId, frame.RequestId]).toEqual([CLIENT_ID, REQUEST_ID]);
  });

  test("an empty token (ResumeSession on a finished session) is refused with a hint", () => {
    expect(() => buildOpenDataChannelFrame({ tokenValue: "", clientId: CLIENT_ID, requestId: REQUEST_ID })).toThrow(
      expect.objectContaining({ code: "E_SSM_SETTING", hint: "Start a new session." }),
    );
  });

  test("a client id that is not a UUID is refused", () => {
    expect(() => buildOpenDataChannelFrame({ tokenValue: "t", clientId: "me", requestId: REQUEST_ID })).toThrow(expect.objectContaining({ code: "E_SSM_SETTING" }));
  });
});

describe("client versions", () => {
  test.each([
    ["1.2.764.0", "1.2.764.0", 0],
    ["1.2.896.0", "1.2.764.0", 1],
    ["1.2.650.0", "1.2.764.0", -1],
    ["1.10.0.0", "1.9.999.0", 1],
    ["1.2", "1.2.0.0", 0],
  ])("%s compared with %s is %d", (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });

  test("the first note's 1.2.650.0 is refused as below the supported minimum", () => {
    expect(() => checkClientVersion("1.2.650.0")).toThrow(expect.objectContaining({ code: "E_SSM_SETTING", message: expect.stringContaining("1.2.764.0") }));
  });

  test.each(["1.2.896", "1.2.896.0-beta", "v1.2.896.0", ""])("%p is refused as not a 4-part number", (version) => {
    expect(() => checkClientVersion(version)).toThrow(expect.objectContaining({ code: "E_SSM_SETTING" }));
  });

  test("a newer 4-part version is accepted as is", () => {
    expect(checkClientVersion("1.3.0.0")).toBe("1.3.0.0");
  });
});
