import { describe, expect, test } from "bun:test";
import { profileRoleWithMfa, profileSettings, readProfile, readProfileRole } from "./profile-role.ts";

const CONFIG = `
[default]
region = us-east-1

[profile base]
# long-term keys in credentials file
region = eu-west-1

[profile admin]
source_profile = base
role_arn = arn:aws:iam::123456789012:role/admin
mfa_serial = arn:aws:iam::123456789012:mfa/alice   ; the device
external_id = ext-1
role_session_name = alice
duration_seconds = 1800
s3 =
  role_arn = not-this

[profile ci]
credential_source = Environment
role_arn = arn:aws:iam::123456789012:role/ci
mfa_serial = arn:aws:iam::123456789012:mfa/ci

[profile nomfa]
source_profile = base
role_arn = arn:aws:iam::123456789012:role/nomfa

[profile web]
role_arn = arn:aws:iam::123456789012:role/web
web_identity_token_file = /token
mfa_serial = arn:aws:iam::123456789012:mfa/web
`;
const CREDENTIALS = `
[base]
aws_access_key_id = AKIABASE
aws_secret_access_key = base-secret

[profile admin]
role_arn = ignored-in-credentials-file-shape

[default]
mfa_serial = arn:aws:iam::123456789012:mfa/from-credentials
`;

function files(map: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
    return text;
  };
}

const env = { AWS_CONFIG_FILE: "/c/config", AWS_SHARED_CREDENTIALS_FILE: "/c/credentials" };
const readFile = files({ "/c/config": CONFIG, "/c/credentials": CREDENTIALS });

describe("profileSettings", () => {
  test("[profile NAME] in the config file, [NAME] in the credentials file; comments and sub-properties skipped", () => {
    expect(profileSettings(CONFIG, "admin", "config")).toEqual({
      source_profile: "base",
      role_arn: "arn:aws:iam::123456789012:role/admin",
      mfa_serial: "arn:aws:iam::123456789012:mfa/alice",
      external_id: "ext-1",
      role_session_name: "alice",
      duration_seconds: "1800",
    });
    expect(profileSettings(CREDENTIALS, "base", "credentials")).toEqual({ aws_access_key_id: "AKIABASE", aws_secret_access_key: "base-secret" });
    expect(profileSettings(CREDENTIALS, "admin", "credentials")).toBeUndefined();
    expect(profileSettings(CONFIG, "base", "credentials")).toBeUndefined();
    expect(profileSettings(CONFIG, "missing", "config")).toBeUndefined();
  });

  test("default is [default] or [profile default] in the config file", () => {
    expect(profileSettings(CONFIG, "default", "config")).toEqual({ region: "us-east-1" });
    expect(profileSettings("[profile default]\nregion = x\n", "default", "config")).toEqual({ region: "x" });
    expect(profileSettings("[default]\nregion = x\n", "default", "credentials")).toEqual({ region: "x" });
  });
});

describe("readProfile", () => {
  test("merges both files, the credentials file winning; honours AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE", () => {
    expect(readProfile({ profile: "base", env, readFile })).toEqual({
      profile: "base",
      settings: { region: "eu-west-1", aws_access_key_id: "AKIABASE", aws_secret_access_key: "base-secret" },
    });
    expect(readProfile({ env, readFile })?.settings).toEqual({ region: "us-east-1", mfa_serial: "arn:aws:iam::123456789012:mfa/from-credentials" });
    expect(readProfile({ env: { ...env, AWS_PROFILE: "nomfa" }, readFile })?.profile).toBe("nomfa");
  });

  test("~/.aws under HOME without the variables; nothing when env keys make the default chain skip profiles", () => {
    const home = files({ "/home/u/.aws/config": "[profile p]\nregion = r\n" });
    expect(readProfile({ profile: "p", env: { HOME: "/home/u" }, readFile: home })?.settings).toEqual({ region: "r" });
    expect(readProfile({ env: { ...env, AWS_ACCESS_KEY_ID: "AKIA" }, readFile })).toBeUndefined();
    expect(readProfile({ profile: "missing", env, readFile })).toBeUndefined();
    expect(readProfile({ profile: "p", env: { AWS_CONFIG_FILE: "/none", AWS_SHARED_CREDENTIALS_FILE: "/none" }, readFile })).toBeUndefined();
  });
});

describe("profileRoleWithMfa / readProfileRole", () => {
  test("role_arn + source_profile + mfa_serial: MFA on the source profile, then the role with the profile's settings", () => {
    expect(readProfileRole({ profile: "admin", env, readFile })).toEqual({
      profile: "admin",
      roleArn: "arn:aws:iam::123456789012:role/admin",
      source: { kind: "profile", profile: "base" },
      mfaSerial: "arn:aws:iam::123456789012:mfa/alice",
      externalId: "ext-1",
      roleSessionName: "alice",
      durationSeconds: 1800,
    });
  });

  test("credential_source is a source too", () => {
    expect(readProfileRole({ profile: "ci", env, readFile })).toMatchObject({
      roleArn: "arn:aws:iam::123456789012:role/ci",
      source: { kind: "credential-source", credentialSource: "Environment" },
      mfaSerial: "arn:aws:iam::123456789012:mfa/ci",
    });
  });

  test("not an MFA role chain: no mfa_serial, no role_arn, or no source_profile/credential_source", () => {
    expect(readProfileRole({ profile: "nomfa", env, readFile })).toBeUndefined();
    expect(readProfileRole({ profile: "base", env, readFile })).toBeUndefined();
    expect(readProfileRole({ profile: "web", env, readFile })).toBeUndefined();
    expect(readProfileRole({ env, readFile })).toBeUndefined();
    expect(profileRoleWithMfa("x", { role_arn: "arn", mfa_serial: "m", source_profile: "s", duration_seconds: "soon" })?.durationSeconds).toBeUndefined();
  });
});
