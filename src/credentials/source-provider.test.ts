import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode } from "../errors";
import { createSourceProvider, memoizeSource } from "./source-provider";
import type { AwsCredentials } from "./types";
import { rejection } from "./_rejection";

const KEY = "AKIAIOSFODNN7EXAMPLE";
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const dir = mkdtempSync(join(tmpdir(), "credproxy-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const opts = { region: "us-east-1" };

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Sets env vars for the duration of `fn` and restores them after. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>): void => {
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) delete process.env[k];
      else process.env[k] = value;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

/** No shared files and no env keys: the default chain has nothing to find. */
const EMPTY_ENV = {
  AWS_CONFIG_FILE: join(dir, "missing-config"),
  AWS_SHARED_CREDENTIALS_FILE: join(dir, "missing-credentials"),
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
  AWS_EC2_METADATA_DISABLED: "true",
};


describe("createSourceProvider", () => {
  test("static keys are returned as configured, with their session token", async () => {
    const source = createSourceProvider({ kind: "static", accessKeyId: KEY, secretAccessKey: SECRET, sessionToken: "tok" }, opts);
    expect(await source()).toEqual({ accessKeyId: KEY, secretAccessKey: SECRET, sessionToken: "tok" });
    expect(source.description).toBe("the static keys (source_credentials.iam_keys, AKIA…MPLE)");
  });

  test("a named profile reads its keys from the configured credentials file", async () => {
    const credentialsFile = file("credentials", `[dev]\naws_access_key_id = ${KEY}\naws_secret_access_key = ${SECRET}\n`);
    const configFile = file("config-empty", "");
    const source = createSourceProvider({ kind: "profile", profile: "dev", credentialsFile, configFile }, opts);
    expect(await source()).toMatchObject({ accessKeyId: KEY, secretAccessKey: SECRET });
  });

  test("a profile with credential_process runs the process once and memoizes its credentials", async () => {
    const counter = join(dir, "process-calls");
    const expiration = new Date(Date.now() + 3600_000).toISOString();
    const script = file(
      "process.sh",
      `#!/bin/sh\necho x >> '${counter}'\n` +
        `echo '{"Version": 1, "AccessKeyId": "ASIAPROCESSEXAMPLE01", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "${expiration}"}'\n`,
    );
    chmodSync(script, 0o755);
    const configFile = file("config-process", `[profile proc]\ncredential_process = ${script}\n`);
    const credentialsFile = file("credentials-empty", "");
    const source = createSourceProvider({ kind: "profile", profile: "proc", configFile, credentialsFile }, opts);
    const results = await Promise.all([source(), source(), source()]);
    expect(results[0]).toMatchObject({ accessKeyId: "ASIAPROCESSEXAMPLE01", sessionToken: "t" });
    expect(await source()).toBe(results[0]!);
    expect(readFileSync(counter, "utf8").trim().split("\n")).toHaveLength(1);
  });

  test("a missing profile fails with E_SOURCE_CREDENTIALS naming the profile and the files to check", async () => {
    const credentialsFile = file("credentials-other", `[other]\naws_access_key_id = ${KEY}\naws_secret_access_key = ${SECRET}\n`);
    const configFile = file("config-other", "");
    const source = createSourceProvider({ kind: "profile", profile: "nope", credentialsFile, configFile }, opts);
    const err = await rejection(source());
    expect(err.code).toBe(ErrorCode.SourceCredentials);
    expect(err.message).toStartWith("Cannot load source credentials from profile 'nope': ");
    expect(err.hint).toContain(credentialsFile);
    expect(err.hint).toContain("iam_keys");
    expect(`${err.message} ${err.hint}`).not.toContain(SECRET);
  });

  test("a profile with a secret but no key ID fails without showing the secret", async () => {
    const credentialsFile = file("credentials-half", `[half]\naws_secret_access_key = ${SECRET}\n`);
    const source = createSourceProvider({ kind: "profile", profile: "half", credentialsFile, configFile: file("c3", "") }, opts);
    const err = await rejection(source());
    expect(err.code).toBe(ErrorCode.SourceCredentials);
    expect(JSON.stringify({ m: err.message, h: err.hint, d: err.details })).not.toContain(SECRET);
  });

  test("the default chain picks up AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", async () => {
    const creds = await withEnv({ ...EMPTY_ENV, AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET }, () =>
      createSourceProvider({ kind: "default-chain" }, opts)(),
    );
    expect(creds).toMatchObject({ accessKeyId: KEY, secretAccessKey: SECRET });
  });

  test("a profile source keeps its keys until invalidate(), then reads the rotated ones from the file", async () => {
    const credentialsFile = file("credentials-rotate", `[rot]\naws_access_key_id = AKIAOLDKEYEXAMPLE001\naws_secret_access_key = ${SECRET}\n`);
    const source = createSourceProvider({ kind: "profile", profile: "rot", credentialsFile, configFile: file("c4", "") }, opts);
    expect((await source()).accessKeyId).toBe("AKIAOLDKEYEXAMPLE001");
    writeFileSync(credentialsFile, `[rot]\naws_access_key_id = AKIANEWKEYEXAMPLE002\naws_secret_access_key = ${SECRET}\n`);
    expect((await source()).accessKeyId).toBe("AKIAOLDKEYEXAMPLE001");
    source.invalidate();
    expect((await source()).accessKeyId).toBe("AKIANEWKEYEXAMPLE002");
  });

  test("the default chain also reads rotated keys from the shared credentials file after invalidate()", async () => {
    const credentialsFile = file("credentials-default", `[default]\naws_access_key_id = AKIAOLDKEYEXAMPLE001\naws_secret_access_key = ${SECRET}\n`);
    await withEnv({ ...EMPTY_ENV, AWS_SHARED_CREDENTIALS_FILE: credentialsFile }, async () => {
      const source = createSourceProvider({ kind: "default-chain" }, opts);
      expect((await source()).accessKeyId).toBe("AKIAOLDKEYEXAMPLE001");
      writeFileSync(credentialsFile, `[default]\naws_access_key_id = AKIANEWKEYEXAMPLE002\naws_secret_access_key = ${SECRET}\n`);
      source.invalidate();
      expect((await source()).accessKeyId).toBe("AKIANEWKEYEXAMPLE002");
    });
  });

  test("the default chain with nothing configured says so and hints at every way to fix it", async () => {
    const err = await withEnv(EMPTY_ENV, () => rejection(createSourceProvider({ kind: "default-chain" }, opts)()));
    expect(err.code).toBe(ErrorCode.SourceCredentials);
    expect(err.message).toStartWith("Cannot load source credentials as the default credential chain found no credentials");
    for (const fix of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "~/.aws", "iam_profile", "iam_keys"]) {
      expect(err.hint).toContain(fix);
    }
  });
});

describe("memoizeSource", () => {
  function counting(expiresInMs: number | undefined, now: () => number) {
    let calls = 0;
    const provider = async (): Promise<AwsCredentials> => {
      calls += 1;
      if (calls === 99) throw new Error("never");
      return { accessKeyId: `K${calls}`, secretAccessKey: "s", ...(expiresInMs !== undefined ? { expiration: new Date(now() + expiresInMs) } : {}) };
    };
    return { provider, calls: () => calls };
  }

  test("credentials without an expiry are resolved once and shared by concurrent callers", async () => {
    const c = counting(undefined, Date.now);
    const memo = memoizeSource(c.provider, Date.now);
    const [a, b] = await Promise.all([memo.get(), memo.get()]);
    expect(a).toBe(b!);
    await memo.get();
    expect(c.calls()).toBe(1);
  });

  test("expiring credentials are resolved again once less than 5 minutes remain", async () => {
    let t = 0;
    const now = (): number => t;
    const c = counting(3600_000, now);
    const memo = memoizeSource(c.provider, now);
    await memo.get();
    t = 3300_000 - 1;
    expect((await memo.get()).accessKeyId).toBe("K1");
    t = 3300_000;
    expect((await memo.get()).accessKeyId).toBe("K2");
  });

  test("a failure is not cached and invalidate() forces a new resolution", async () => {
    let fail = true;
    let calls = 0;
    const memo = memoizeSource(async () => {
      calls += 1;
      if (fail) throw new Error("down");
      return { accessKeyId: `K${calls}`, secretAccessKey: "s" };
    }, Date.now);
    await expect(memo.get()).rejects.toThrow("down");
    fail = false;
    expect((await memo.get()).accessKeyId).toBe("K2");
    memo.invalidate();
    expect((await memo.get()).accessKeyId).toBe("K3");
  });
});
