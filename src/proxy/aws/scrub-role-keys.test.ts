import { describe, expect, test } from "bun:test";
import { scrubbable, scrubRoleKeys } from "./scrub-role-keys.ts";

const swaps = [["ASIAROLEKEY000000001", "ASIAPLACEHOLDER00001"], ["FQoGZXIvYXdzRealToken", "credproxyPlaceholderToken"]] as const;

describe("AWS error bodies lose the role's key id and token", () => {
  test("an S3 error naming the role's key and token gets the placeholders instead", () => {
    const body = Buffer.from("<Error><Code>InvalidToken</Code><AWSAccessKeyId>ASIAROLEKEY000000001</AWSAccessKeyId><Token-0>FQoGZXIvYXdzRealToken</Token-0></Error>");
    const out = scrubRoleKeys(body, swaps).toString();
    expect(out).toBe("<Error><Code>InvalidToken</Code><AWSAccessKeyId>ASIAPLACEHOLDER00001</AWSAccessKeyId><Token-0>credproxyPlaceholderToken</Token-0></Error>");
  });
  test("a body without them is returned as it is, byte for byte", () => {
    const body = Buffer.from([0xff, 0x00, 0x41]);
    expect(scrubRoleKeys(body, swaps)).toBe(body);
  });
  test("only small, unencoded error bodies of known length are rewritten", () => {
    expect(scrubbable("GET", 403, { "content-length": "300" })).toBe(true);
    expect(scrubbable("GET", 200, { "content-length": "300" })).toBe(false);
    expect(scrubbable("HEAD", 403, { "content-length": "300" })).toBe(false);
    expect(scrubbable("GET", 403, {})).toBe(false);
    expect(scrubbable("GET", 403, { "content-length": "300", "content-encoding": "gzip" })).toBe(false);
    expect(scrubbable("GET", 403, { "content-length": String(2 * 1024 * 1024) })).toBe(false);
  });
});
