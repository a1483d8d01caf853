import { describe, expect, test } from "bun:test";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { createMfaCodeSource, profileSetting, readMfaSerial, type MfaTerminal } from "./mfa.ts";

const SERIAL = "arn:aws:iam::123456789012:mfa/alice";
const CONFIG = `
[default]
region = us-east-1
mfa_serial = arn:aws:iam::123456789012:mfa/default-user

[profile dev]
mfa_serial=${SERIAL}   ; the device
s3 =
  mfa_serial = not-this

[profile nomfa]
region = eu-west-1
`;

function files(map: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    return text;
  };
}

function terminal(answers: string[] | null): MfaTerminal & { prompts: string[] } {
  const prompts: string[] = [];
  return {
    interactive: answers !== null,
    prompts,
    prompt: async (q) => {
      prompts.push(q);
      return answers?.shift() ?? "";
    },
  };
}

describe("readMfaSerial", () => {
  const readFile = files({ "/cfg": CONFIG, "/home/u/.aws/config": CONFIG });
  test("reads mfa_serial of [profile NAME], [default], from AWS_CONFIG_FILE or ~/.aws/config", () => {
    expect(readMfaSerial({ profile: "dev", env: { AWS_CONFIG_FILE: "/cfg" }, readFile })).toBe(SERIAL);
    expect(readMfaSerial({ profile: "nomfa", env: { AWS_CONFIG_FILE: "/cfg" }, readFile })).toBeUndefined();
    expect(readMfaSerial({ env: { HOME: "/home/u" }, readFile })).toBe("arn:aws:iam::123456789012:mfa/default-user");
    expect(readMfaSerial({ env: { HOME: "/home/u", AWS_PROFILE: "dev" }, readFile })).toBe(SERIAL);
  });

  test("nothing when the file is missing, or when the default chain would use environment keys", () => {
    expect(readMfaSerial({ profile: "dev", env: { AWS_CONFIG_FILE: "/missing" }, readFile })).toBeUndefined();
    expect(readMfaSerial({ env: { AWS_CONFIG_FILE: "/cfg", AWS_ACCESS_KEY_ID: "AKIA" }, readFile })).toBeUndefined();
    // An explicit --profile is used even then, as the SDK would.
    expect(readMfaSerial({ profile: "dev", env: { AWS_CONFIG_FILE: "/cfg", AWS_ACCESS_KEY_ID: "AKIA" }, readFile })).toBe(SERIAL);
  });

  test("profileSetting ignores other sections and indented sub-properties", () => {
    expect(profileSetting(CONFIG, "dev", "s3")).toBeUndefined();
    expect(profileSetting(CONFIG, "nomfa", "region")).toBe("eu-west-1");
    expect(profileSetting("[profile default]\nmfa_serial = x\n", "default", "mfa_serial")).toBe("x");
  });
});

describe("createMfaCodeSource", () => {
  test("--mfa-token is used once; then, without a terminal, the error says a new code is needed", async () => {
    const next = createMfaCodeSource({ serial: SERIAL, token: "135790", terminal: terminal(null) });
    expect(await next()).toBe("135790");
    const err = await next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CredproxyError);
    expect((err as CredproxyError).message).toContain("no new MFA code can be asked for without a terminal");
    expect((err as CredproxyError).hint).toContain("--mfa-token");
    expect((err as CredproxyError).message).not.toContain("135790");
  });

  test("with a terminal it prompts (after the flag's code), re-asking on malformed answers", async () => {
    const tty = terminal(["12", " 654321 "]);
    const next = createMfaCodeSource({ serial: SERIAL, token: "123456", terminal: tty });
    expect(await next()).toBe("123456");
    expect(tty.prompts).toEqual([]);
    expect(await next()).toBe("654321");
    expect(tty.prompts).toEqual([`MFA code for ${SERIAL}: `, `MFA code for ${SERIAL}: `]);
  });

  test("usage errors: a malformed --mfa-token; no token and no terminal", () => {
    expect(() => createMfaCodeSource({ serial: SERIAL, token: "12345a", terminal: terminal([]) })).toThrow("6-digit");
    try {
      createMfaCodeSource({ serial: SERIAL, terminal: terminal(null) });
      throw new Error("expected a usage error");
    } catch (error) {
      expect(error).toBeInstanceOf(CredproxyError);
      expect((error as CredproxyError).code).toBe(ErrorCode.Usage);
      expect((error as CredproxyError).hint).toContain("--mfa-token");
    }
  });
});
