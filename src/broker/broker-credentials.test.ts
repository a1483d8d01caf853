import { describe, expect, test } from "bun:test";
import { CredproxyError } from "../errors.ts";
import { silentLogger } from "../log.ts";
import { createBrokerCredentials, globToRegExp } from "./broker-credentials.ts";

// Points STS at a closed loopback port: these tests never fetch, they only check policy.
const base = { roleArn: "arn:aws:iam::123456789012:role/base", region: "us-east-1", stsEndpoint: "http://127.0.0.1:9", logger: silentLogger };

describe("createBrokerCredentials", () => {
  test("refuses a --role-arn that is not a role ARN", () => {
    expect(() => createBrokerCredentials({ ...base, roleArn: "arn:aws:iam::123456789012:user/bob" })).toThrow("is not an IAM role ARN");
  });

  test("/role-arn/ is refused for ARNs outside the allow-list, and for everything when it is empty", () => {
    const none = createBrokerCredentials(base);
    expect(none.forRoleArn("arn:aws:iam::123456789012:role/dev-a")).toBeInstanceOf(CredproxyError);
    none.stop();
    const some = createBrokerCredentials({ ...base, allowRoles: ["arn:aws:iam::123456789012:role/dev-*"] });
    expect(some.forRoleArn("arn:aws:iam::123456789012:role/prod-a")).toBeInstanceOf(CredproxyError);
    expect(some.forRoleArn("arn:aws:iam::123456789012:role/dev-a")).not.toBeInstanceOf(CredproxyError);
    some.stop();
  });

  test("an allowed ARN gets one cache that later requests share", () => {
    const b = createBrokerCredentials({ ...base, allowRoles: ["*"] });
    const first = b.forRoleArn("arn:aws:iam::123456789012:role/x");
    expect(b.forRoleArn("arn:aws:iam::123456789012:role/x")).toBe(first);
    expect(b.forRoleArn("arn:aws:iam::123456789012:role/y")).not.toBe(first);
    b.stop();
  });

  test("something that is not an ARN is refused even with a match-all allow-list", () => {
    const b = createBrokerCredentials({ ...base, allowRoles: ["*"] });
    expect(b.forRoleArn("../../etc/passwd")).toBeInstanceOf(CredproxyError);
    b.stop();
  });
});

describe("globToRegExp", () => {
  test("* matches any run and the rest is literal, anchored at both ends", () => {
    const re = globToRegExp("arn:aws:iam::123456789012:role/dev-*");
    expect(re.test("arn:aws:iam::123456789012:role/dev-app")).toBe(true);
    expect(re.test("arn:aws:iam::123456789012:role/dev-")).toBe(true);
    expect(re.test("xarn:aws:iam::123456789012:role/dev-app")).toBe(false);
    expect(globToRegExp("a.b").test("axb")).toBe(false);
  });
});
