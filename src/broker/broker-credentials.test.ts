import { describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AssumeRoleSpec } from "../config/types.ts";
import type { GetSessionTokenParams } from "../credentials/session-token.ts";
import type { SourceProvider } from "../credentials/source-provider.ts";
import type { AwsCredentials, CredentialProvider } from "../credentials/types.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { silentLogger } from "../log.ts";
import { createBrokerCredentials, globToRegExp, profileRoleSource, type BrokerCredentialsDeps } from "./broker-credentials.ts";
import type { MfaTerminal } from "./mfa.ts";
import type { ProfileRole } from "./profile-role.ts";

// Points STS at a closed loopback port: these tests never fetch, they only check policy.
const base: { roleArn?: string; region: string; stsEndpoint: string; logger: typeof silentLogger } = { roleArn: "arn:aws:iam::123456789012:role/base", region: "us-east-1", stsEndpoint: "http://127.0.0.1:9", logger: silentLogger };

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

  test("/role-arn/ refuses a role ARN with an empty, '.' or '..' segment, even with a match-all allow-list", () => {
    const b = createBrokerCredentials({ ...base, allowRoles: ["*"] });
    for (const arn of ["role/dev-x/../admin", "role/dev-x/./admin", "role/dev-x//admin", "role/../admin", "role/dev-x/.."]) {
      expect({ arn, refused: b.forRoleArn(`arn:aws:iam::123456789012:${arn}`) instanceof CredproxyError }).toEqual({ arn, refused: true });
    }
    expect(b.forRoleArn("arn:aws:iam::123456789012:role/team/dev.x")).not.toBeInstanceOf(CredproxyError);
    b.stop();
  });

  test("something that is not an ARN is refused even with a match-all allow-list", () => {
    const b = createBrokerCredentials({ ...base, allowRoles: ["*"] });
    expect(b.forRoleArn("../../etc/passwd")).toBeInstanceOf(CredproxyError);
    b.stop();
  });
});

describe("globToRegExp", () => {
  const ARN = "arn:aws:iam::123456789012:";
  test("* matches any run within one path segment and the rest is literal, anchored at both ends", () => {
    const re = globToRegExp(`${ARN}role/dev-*`);
    expect(re.test(`${ARN}role/dev-app`)).toBe(true);
    expect(re.test(`${ARN}role/dev-`)).toBe(true);
    expect(re.test(`x${ARN}role/dev-app`)).toBe(false);
    expect(globToRegExp("a.b").test("axb")).toBe(false);
  });

  test("* never matches /, so role/dev-* admits neither a deeper path nor a path before the name", () => {
    const re = globToRegExp(`${ARN}role/dev-*`);
    for (const arn of ["role/dev-x/../admin", "role/dev-x/admin", "role/team/dev-x"]) expect({ arn, ok: re.test(ARN + arn) }).toEqual({ arn, ok: false });
    expect(globToRegExp(`${ARN}role/*/dev-*`).test(`${ARN}role/team/dev-x`)).toBe(true);
    expect(globToRegExp(`${ARN}role/*/dev-*`).test(`${ARN}role/a/b/dev-x`)).toBe(false);
  });

  test("** spans path segments, and a pattern of just * admits any ARN", () => {
    expect(globToRegExp(`${ARN}role/**`).test(`${ARN}role/team/sub/dev-x`)).toBe(true);
    expect(globToRegExp(`${ARN}role/**/dev-*`).test(`${ARN}role/team/sub/dev-x`)).toBe(true);
    expect(globToRegExp(`${ARN}role/**/dev-*`).test(`${ARN}role/dev-x`)).toBe(true);
    expect(globToRegExp(`${ARN}role/**/dev-*`).test(`${ARN}role/team/dev-x/admin`)).toBe(false);
    expect(globToRegExp("*").test(`${ARN}role/team/x`)).toBe(true);
  });
});

// ---- decision logic, with fake STS calls --------------------------------------------------

const LONG: AwsCredentials = { accessKeyId: "AKIALONGTERMEXAMPLE1", secretAccessKey: "long-secret" };
const MFA = "arn:aws:iam::123456789012:mfa/alice";
const NO_CONFIG = { AWS_CONFIG_FILE: "/nonexistent/credproxy-test-config" };

interface Fakes {
  deps: BrokerCredentialsDeps;
  gst: { source: AwsCredentials; params: GetSessionTokenParams }[];
  gci: AwsCredentials[];
  assumed: { source: AwsCredentials; params: AssumeRoleSpec }[];
  sourceCalls: () => number;
}

function fakes(source: AwsCredentials, extra: Partial<BrokerCredentialsDeps> = {}): Fakes {
  const gst: Fakes["gst"] = [];
  const gci: AwsCredentials[] = [];
  const assumed: Fakes["assumed"] = [];
  let calls = 0;
  let n = 0;
  const provider: SourceProvider = Object.assign(
    async () => {
      calls += 1;
      return source;
    },
    { description: "fake source", invalidate: () => {} },
  );
  const expiry = () => new Date(Date.now() + 3_600_000);
  return {
    gst,
    gci,
    assumed,
    sourceCalls: () => calls,
    deps: {
      env: NO_CONFIG,
      terminal: { interactive: false, prompt: async () => "" },
      source: provider,
      getSessionToken: async (src, params) => {
        gst.push({ source: src, params });
        n += 1;
        return { accessKeyId: `ASIASESSION${n}`, secretAccessKey: "s", sessionToken: `session-${n}`, expiration: expiry() };
      },
      getCallerIdentity: async (c) => {
        gci.push(c);
        return { arn: "arn:aws:iam::123456789012:user/alice", accountId: "123456789012" };
      },
      assumeRole: (src: CredentialProvider, params: AssumeRoleSpec) => async () => {
        const c = await src();
        assumed.push({ source: c, params });
        return {
          accessKeyId: "ASIAROLE",
          secretAccessKey: "r",
          sessionToken: "role-token",
          expiration: expiry(),
          roleArn: params.RoleArn,
          accountId: "123456789012",
          assumedRoleArn: "arn:aws:sts::123456789012:assumed-role/x/s",
        };
      },
      ...extra,
    },
  };
}

const profileOnly = { region: "us-east-1", logger: silentLogger };

describe("createBrokerCredentials without --role-arn", () => {
  test("long-term keys are exchanged with GetSessionToken(--duration); the keys are never served", async () => {
    const f = fakes(LONG);
    const b = createBrokerCredentials({ ...profileOnly, durationSeconds: 1800 }, f.deps);
    const c = await b.base.get();
    b.stop();
    expect(c.accessKeyId).toBe("ASIASESSION1");
    expect(c.sessionToken).toBe("session-1");
    expect(c.roleArn).toBe("arn:aws:iam::123456789012:user/alice");
    expect(c.accountId).toBe("123456789012");
    expect(f.gst).toEqual([{ source: LONG, params: { durationSeconds: 1800 } }]);
    expect(f.assumed).toEqual([]);
  });

  test("temporary source credentials are passed through as they are; the identity is asked once", async () => {
    const temp: AwsCredentials = { accessKeyId: "ASIASSO", secretAccessKey: "t", sessionToken: "sso-token", expiration: new Date(Date.now() + 3_600_000) };
    const f = fakes(temp, {
      getCallerIdentity: async () => ({ arn: "arn:aws:sts::123456789012:assumed-role/Admin/alice", accountId: "123456789012" }),
    });
    const b = createBrokerCredentials(profileOnly, f.deps);
    const c = await b.base.get();
    b.base.invalidate();
    const again = await b.base.get();
    b.stop();
    expect(c).toMatchObject({ accessKeyId: "ASIASSO", sessionToken: "sso-token", roleArn: "arn:aws:iam::123456789012:role/Admin" });
    expect(c.assumedRoleArn).toBe("arn:aws:sts::123456789012:assumed-role/Admin/alice");
    expect(again.accessKeyId).toBe("ASIASSO");
    expect(f.gst).toEqual([]);
  });

  test("callers at the same time share one fetch (the core's single flight)", async () => {
    const f = fakes(LONG);
    const b = createBrokerCredentials(profileOnly, f.deps);
    const all = await Promise.all([b.base.get(), b.base.get(), b.base.get()]);
    b.stop();
    expect(new Set(all.map((c) => c.accessKeyId)).size).toBe(1);
    expect(f.gst.length).toBe(1);
    expect(f.gci.length).toBe(1);
  });
});

describe("createBrokerCredentials with MFA", () => {
  test("mfa_serial in the profile: one MFA session (43200 s) is the source of AssumeRole, also for /role-arn/", async () => {
    const dir = await mkdtemp(join(tmpdir(), "credproxy-mfa-unit-"));
    await writeFile(`${dir}/config`, `[profile dev]\nmfa_serial = ${MFA}\n`);
    const f = fakes(LONG, { env: { AWS_CONFIG_FILE: `${dir}/config` } });
    const b = createBrokerCredentials({ ...base, profile: "dev", mfaToken: "123456", allowRoles: ["*"] }, f.deps);
    expect(b.mfaSerial).toBe(MFA);
    await b.base.get();
    const other = b.forRoleArn("arn:aws:iam::123456789012:role/other");
    if (other instanceof CredproxyError) throw other;
    await other.get();
    b.stop();
    await rm(dir, { recursive: true, force: true });
    expect(f.gst).toEqual([{ source: LONG, params: { durationSeconds: 43200, serialNumber: MFA, tokenCode: "123456" } }]);
    expect(f.assumed.map((a) => a.source.accessKeyId)).toEqual(["ASIASESSION1", "ASIASESSION1"]);
    expect(f.assumed.map((a) => a.source.sessionToken)).toEqual(["session-1", "session-1"]);
  });

  test("--mfa-serial without a role: the MFA session (--duration long) is served directly", async () => {
    const f = fakes(LONG);
    const b = createBrokerCredentials({ ...profileOnly, mfaSerial: MFA, mfaToken: "123456", durationSeconds: 900 }, f.deps);
    const c = await b.base.get();
    b.stop();
    expect(c.accessKeyId).toBe("ASIASESSION1");
    expect(f.gst).toEqual([{ source: LONG, params: { durationSeconds: 900, serialNumber: MFA, tokenCode: "123456" } }]);
  });

  test("the code is asked for on the terminal when there is no --mfa-token", async () => {
    const prompts: string[] = [];
    const tty: MfaTerminal = { interactive: true, prompt: async (q) => (prompts.push(q), "246801") };
    const f = fakes(LONG, { terminal: tty });
    const b = createBrokerCredentials({ ...base, mfaSerial: MFA }, f.deps);
    await b.base.get();
    b.stop();
    expect(prompts).toEqual([`MFA code for ${MFA}: `]);
    expect(f.gst[0]!.params.tokenCode).toBe("246801");
  });

  test("no --mfa-token and no terminal is a usage error up front; --mfa-token without a device too", () => {
    const f = fakes(LONG);
    const noCode = (): unknown => createBrokerCredentials({ ...base, mfaSerial: MFA }, f.deps);
    expect(noCode).toThrow("no terminal");
    try {
      noCode();
    } catch (error) {
      expect((error as CredproxyError).code).toBe(ErrorCode.Usage);
      expect((error as CredproxyError).hint).toContain("--mfa-token");
    }
    expect(() => createBrokerCredentials({ ...base, mfaToken: "123456" }, f.deps)).toThrow("no MFA device");
    expect(f.sourceCalls()).toBe(0);
  });

  test("once the --mfa-token session is gone, a non-interactive broker says a new code is needed", async () => {
    // The first MFA session works; then STS says it expired (as GetCallerIdentity reports here),
    // so the next fetch needs a new session, and so a new code.
    const expired = new CredproxyError(ErrorCode.AssumeRole, "ExpiredToken", { details: { awsCode: "ExpiredToken" } });
    const g = fakes(LONG, {
      getSessionToken: async (src, params) => {
        g.gst.push({ source: src, params });
        if (g.gst.length === 1) return { accessKeyId: "ASIAONE", secretAccessKey: "s", sessionToken: "t", expiration: new Date(Date.now() + 3_600_000) };
        throw expired;
      },
      getCallerIdentity: async () => {
        throw expired;
      },
    });
    const c = createBrokerCredentials({ ...profileOnly, mfaSerial: MFA, mfaToken: "123456" }, g.deps);
    const err = await c.base.get().then(
      () => undefined,
      (e: unknown) => e as CredproxyError,
    );
    expect(err?.message).toContain("ExpiredToken");
    c.base.invalidate();
    const next = await c.base.get().then(
      () => undefined,
      (e: unknown) => e as CredproxyError,
    );
    c.stop();
    expect(next?.message).toContain("no new MFA code can be asked for without a terminal");
    expect(next?.hint).toContain("--mfa-token");
    expect(g.gst.length).toBe(1);
  });
});

describe("createBrokerCredentials with a role profile with MFA (aws-vault style)", () => {
  const ADMIN = "arn:aws:iam::123456789012:role/admin";
  const config = (extra = ""): string => `[profile base]\nregion = us-east-1\n\n[profile admin]\nsource_profile = base\nrole_arn = ${ADMIN}\nmfa_serial = ${MFA}\n${extra}`;

  async function setup(text: string): Promise<{ f: Fakes; deps: BrokerCredentialsDeps; roles: ProfileRole[]; cleanup: () => Promise<void> }> {
    const dir = await mkdtemp(join(tmpdir(), "credproxy-profile-role-unit-"));
    await writeFile(`${dir}/config`, text);
    const f = fakes(LONG, { env: { AWS_CONFIG_FILE: `${dir}/config`, AWS_SHARED_CREDENTIALS_FILE: `${dir}/credentials` } });
    const roles: ProfileRole[] = [];
    const deps: BrokerCredentialsDeps = {
      ...f.deps,
      source: undefined,
      profileRoleSource: (r) => {
        roles.push(r);
        return f.deps.source!;
      },
    };
    return { f, deps, roles, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }

  test("MFA session on source_profile's keys, then AssumeRole(role_arn) with it; /role-arn/ chains from the profile's role", async () => {
    const { f, deps, roles, cleanup } = await setup(config("external_id = ext-1\nrole_session_name = alice\nduration_seconds = 1800\n"));
    const b = createBrokerCredentials({ ...profileOnly, profile: "admin", mfaToken: "123456", allowRoles: ["*"] }, deps);
    expect(b.mfaSerial).toBe(MFA);
    expect(roles.map((r) => r.source)).toEqual([{ kind: "profile", profile: "base" }]);
    const served = await b.base.get();
    expect(served.roleArn).toBe(ADMIN);
    const other = b.forRoleArn("arn:aws:iam::123456789012:role/other");
    if (other instanceof CredproxyError) throw other;
    await other.get();
    b.stop();
    await cleanup();
    expect(f.gst).toEqual([{ source: LONG, params: { durationSeconds: 43200, serialNumber: MFA, tokenCode: "123456" } }]);
    expect(f.gci).toEqual([]);
    expect(f.assumed.map((a) => [a.params.RoleArn, a.source.accessKeyId])).toEqual([
      [ADMIN, "ASIASESSION1"],
      ["arn:aws:iam::123456789012:role/other", "ASIAROLE"],
    ]);
    expect(f.assumed[0]!.params).toMatchObject({ ExternalId: "ext-1", RoleSessionName: "alice", DurationSeconds: 1800 });
    expect(f.assumed[0]!.source.sessionToken).toBe("session-1");
  });

  test("without the profile's optional settings the broker's own session name and duration are used", async () => {
    const { f, deps, cleanup } = await setup(config());
    const b = createBrokerCredentials({ ...profileOnly, profile: "admin", mfaToken: "123456", durationSeconds: 900, sessionName: "credproxy-imds" }, deps);
    await b.base.get();
    b.stop();
    await cleanup();
    expect(f.assumed.map((a) => a.params)).toEqual([{ RoleArn: ADMIN, RoleSessionName: "credproxy-imds", DurationSeconds: 900 }]);
  });

  test("AWS_PROFILE counts like --profile", async () => {
    const { f, deps, roles, cleanup } = await setup(config());
    const b = createBrokerCredentials({ ...profileOnly, mfaToken: "123456" }, { ...deps, env: { ...deps.env, AWS_PROFILE: "admin" } });
    await b.base.get();
    b.stop();
    await cleanup();
    expect(roles.map((r) => r.profile)).toEqual(["admin"]);
    expect(f.assumed.map((a) => a.params.RoleArn)).toEqual([ADMIN]);
  });

  test("--role-arn with such a profile is a usage error naming the source profile", async () => {
    const { f, deps, cleanup } = await setup(config());
    let err: unknown;
    try {
      createBrokerCredentials({ ...profileOnly, profile: "admin", mfaToken: "123456", roleArn: "arn:aws:iam::123456789012:role/x" }, deps);
    } catch (error) {
      err = error;
    }
    await cleanup();
    expect(err).toBeInstanceOf(CredproxyError);
    expect((err as CredproxyError).code).toBe(ErrorCode.Usage);
    expect((err as CredproxyError).hint).toContain("--profile base");
    expect(f.sourceCalls()).toBe(0);
  });

  test("a role profile without mfa_serial is left to the SDK (the profile itself is the source)", async () => {
    const { f, deps, roles, cleanup } = await setup(`[profile admin]\nsource_profile = base\nrole_arn = ${ADMIN}\n`);
    const b = createBrokerCredentials({ ...profileOnly, profile: "admin" }, { ...deps, source: f.deps.source });
    await b.base.get();
    b.stop();
    await cleanup();
    expect(roles).toEqual([]);
    expect(f.assumed).toEqual([]);
    expect(f.gst.map((g) => g.params.serialNumber)).toEqual([undefined]);
  });

  test("an unknown credential_source is a usage error", () => {
    expect(() =>
      profileRoleSource(
        { profile: "ci", roleArn: ADMIN, mfaSerial: MFA, source: { kind: "credential-source", credentialSource: "Nope" } },
        { region: "us-east-1" },
      ),
    ).toThrow("credential_source = Nope");
  });
});
