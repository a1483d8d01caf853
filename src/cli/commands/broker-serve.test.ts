import { describe, expect, test } from "bun:test";
import { realpathSync } from "node:fs";
import { validateInput } from "./broker-serve.ts";

const ROLE = ["--role-arn", "arn:aws:iam::123456789012:role/dev"];
const uid = process.getuid!();

describe("broker serve validateInput", () => {
  test("defaults: the XDG socket, only our own uid, no extra roles, info logs", () => {
    const input = validateInput(ROLE, { XDG_RUNTIME_DIR: "/run/user/1000" });
    expect(input.socket).toBe("/run/user/1000/credproxy/broker.sock");
    expect(input.policy.explain()).toBe(`uid ${uid}`);
    expect(input.allowRoles).toEqual([]);
    expect(input.logLevel).toBe("info");
    expect(input.region).toBe("us-east-1");
  });

  test("repeatable --allow-uid, --allow-exe (resolved) and --allow-role", () => {
    const input = validateInput([...ROLE, "--allow-uid", "1000", "--allow-uid", "1001", "--allow-exe", "/usr/bin/env", "--allow-role", "arn:aws:iam::123456789012:role/dev-*"], {});
    expect(input.policy.allowUids).toEqual([1000, 1001]);
    expect(input.policy.allowExes).toEqual([realpathSync("/usr/bin/env")]);
    expect(input.allowRoles).toEqual(["arn:aws:iam::123456789012:role/dev-*"]);
  });

  test("a relative --socket is made absolute; $CREDPROXY_LOG_LEVEL and $AWS_REGION are read", () => {
    const input = validateInput([...ROLE, "--socket", "b.sock"], { CREDPROXY_LOG_LEVEL: "debug", AWS_REGION: "eu-west-1" });
    expect(input.socket).toBe(`${process.cwd()}/b.sock`);
    expect(input.logLevel).toBe("debug");
    expect(input.region).toBe("eu-west-1");
  });

  test("usage errors: an empty --role-arn, a bad --mfa-token, a non-numeric uid, a relative or missing executable, a bad pattern, a long socket path", () => {
    expect(() => validateInput(["--role-arn", ""], {})).toThrow("--role-arn is empty");
    expect(() => validateInput(["--mfa-token", "12345"], {})).toThrow("--mfa-token must be the 6-digit code");
    expect(validateInput([], {}).roleArn).toBeUndefined();
    expect(() => validateInput([...ROLE, "--allow-uid", "bob"], {})).toThrow('invalid --allow-uid "bob"');
    expect(() => validateInput([...ROLE, "--allow-exe", "python3"], {})).toThrow("is not absolute");
    expect(() => validateInput([...ROLE, "--allow-exe", "/nonexistent/tool"], {})).toThrow("does not exist");
    expect(() => validateInput([...ROLE, "--allow-role", "dev-*"], {})).toThrow('invalid --allow-role "dev-*"');
    expect(() => validateInput([...ROLE, "--socket", "/" + "x".repeat(120)], {})).toThrow("bytes long");
    expect(() => validateInput([...ROLE, "--port", "80"], {})).toThrow('unknown flag "--port"');
  });
});
