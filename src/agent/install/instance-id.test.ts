import { describe, expect, test } from "bun:test";
import { localInstanceId } from "./instance-id.ts";

const files = (content: Record<string, string>) => (file: string) => {
  if (!(file in content)) throw new Error("ENOENT");
  return content[file]!;
};

describe("localInstanceId()", () => {
  test("reads the DMI asset tag first, then cloud-init's record", () => {
    expect(localInstanceId(["a", "b"], files({ a: "i-0123456789abcdef0\n", b: "i-0aaaaaaaaaaaaaaaa" }))).toBe("i-0123456789abcdef0");
    expect(localInstanceId(["a", "b"], files({ b: "i-0aaaaaaaaaaaaaaaa\n" }))).toBe("i-0aaaaaaaaaaaaaaaa");
  });

  test("skips what is not an EC2 instance id (a vendor asset tag, a hybrid mi- id, nothing)", () => {
    expect(localInstanceId(["a", "b"], files({ a: "Default string", b: "mi-0123456789abcdef0" }))).toBeUndefined();
    expect(localInstanceId(["a"], files({}))).toBeUndefined();
  });
});
