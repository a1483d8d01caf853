import type { AssumeRoleSpec, SourceSpec } from "../config/types.ts";
import { createAssumeRoleProvider } from "../credentials/assume-role.ts";
import { createRefreshingCredentials, type RefreshingCredentials } from "../credentials/refreshing-credentials.ts";
import { withSourceInvalidation } from "../credentials/service-credentials.ts";
import {
  getCallerIdentity,
  getSessionToken,
  MAX_SESSION_TOKEN_SECONDS,
  principalArn,
  type CallerIdentity,
  type SessionCredentials,
} from "../credentials/session-token.ts";
import { fromContainerMetadata, fromEnv, fromInstanceMetadata } from "@aws-sdk/credential-providers";
import { createSourceProvider, memoizeSource, type SourceProvider, type SourceProviderOptions } from "../credentials/source-provider.ts";
import type { AwsCredentials, CredentialProvider, RoleCredentialProvider, RoleCredentials } from "../credentials/types.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { createMfaCodeSource, processTerminal, readMfaSerial, type MfaTerminal } from "./mfa.ts";
import { readProfileRole, type ProfileRole } from "./profile-role.ts";

export interface BrokerCredentialsOptions {
  /** Named profile for the source credentials; the default chain when absent. */
  readonly profile?: string | undefined;
  /**
   * The role `/` serves. Without it `/` serves the source's own identity, but never long-lived
   * keys: temporary source credentials are passed through, long-term keys are exchanged for a
   * session with sts:GetSessionToken.
   */
  readonly roleArn?: string | undefined;
  /** The role session's length, and the GetSessionToken session's length without a role. */
  readonly durationSeconds?: number | undefined;
  readonly region: string;
  readonly stsEndpoint?: string | undefined;
  readonly sessionName?: string | undefined;
  /** Patterns of the ARNs `/role-arn/<ARN>` may assume (`*` within one path segment, `**` across; globToRegExp). */
  readonly allowRoles?: readonly string[] | undefined;
  /**
   * The MFA device; else the source profile's `mfa_serial` in the shared config file, if any.
   * A profile with `role_arn`, `source_profile` (or `credential_source`) and `mfa_serial` is read
   * the aws-vault way: the MFA session is made from `source_profile`'s credentials, and the
   * profile's role is assumed with it (see profile-role.ts).
   */
  readonly mfaSerial?: string | undefined;
  /** A 6-digit code for the first MFA session; later ones are asked for on the terminal. */
  readonly mfaToken?: string | undefined;
  readonly logger: Logger;
  /** The caller ends the process when the first fetch fails and prints that error itself (broker exec). */
  readonly firstFailureIsFatal?: boolean | undefined;
}

/** Replaceable parts, for tests. */
export interface BrokerCredentialsDeps {
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly terminal?: MfaTerminal | undefined;
  readonly source?: SourceProvider | undefined;
  /** Builds the source of a role profile with MFA (its source_profile, or its credential_source). */
  readonly profileRoleSource?: ((role: ProfileRole) => SourceProvider) | undefined;
  readonly getSessionToken?: typeof getSessionToken | undefined;
  readonly getCallerIdentity?: typeof getCallerIdentity | undefined;
  readonly assumeRole?: ((source: CredentialProvider, params: AssumeRoleSpec) => RoleCredentialProvider) | undefined;
  readonly now?: (() => number) | undefined;
}

export interface BrokerCredentials {
  /** The credentials of `/`: the configured role, or the source's session without one. */
  readonly base: RefreshingCredentials;
  /** The MFA device in use, if any. */
  readonly mfaSerial?: string | undefined;
  /**
   * The credentials for `/role-arn/<arn>`, cached per ARN with their own refresh, or a
   * CredproxyError saying why this ARN is not allowed.
   */
  forRoleArn(arn: string): RefreshingCredentials | CredproxyError;
  stop(): void;
}

/** At most this many per-ARN caches; the least recently used one is dropped beyond it. */
const MAX_ROLE_CACHES = 64;
const ROLE_ARN = /^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SETTINGS = { refreshBufferSeconds: 300, retryDelaySeconds: 60, requestTimeoutSeconds: 30 } as const;
/** How long a fetch may take when it may prompt for an MFA code. */
const PROMPT_TIMEOUT_SECONDS = 180;

/**
 * The credential side of `credproxy broker` (exec, the unix socket and IMDS all use it): the
 * core's refreshing, single-flight cache for one role, plus a bounded per-ARN cache for
 * `/role-arn/<ARN>` restricted to an allow-list.
 */
export function createBrokerCredentials(options: BrokerCredentialsOptions, deps: BrokerCredentialsDeps = {}): BrokerCredentials {
  if (options.roleArn !== undefined && !ROLE_ARN.test(options.roleArn)) {
    throw new CredproxyError(ErrorCode.Usage, `--role-arn "${options.roleArn}" is not an IAM role ARN`, {
      hint: "use the form arn:aws:iam::123456789012:role/Name",
    });
  }
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  const durationSeconds = options.durationSeconds ?? 3600;
  const sts = { region: options.region, stsEndpoint: options.stsEndpoint, logger: options.logger };
  const gst = deps.getSessionToken ?? getSessionToken;

  // `[profile admin]` with role_arn + source_profile + mfa_serial: MFA on the source profile,
  // then the profile's role, instead of letting the SDK assume the role without a code.
  const profileRole = readProfileRole({ profile: options.profile, env });
  if (profileRole && options.roleArn !== undefined) {
    const src = profileRole.source.kind === "profile" ? profileRole.source.profile : "SOURCE";
    throw new CredproxyError(
      ErrorCode.Usage,
      `--role-arn cannot be combined with profile '${profileRole.profile}', which has its own role_arn (${profileRole.roleArn}) and mfa_serial`,
      {
        hint: `use --profile ${profileRole.profile} alone to get ${profileRole.roleArn}, or --profile ${src} --mfa-serial ${profileRole.mfaSerial} --role-arn ${options.roleArn}`,
      },
    );
  }
  const mfaSerial = options.mfaSerial ?? profileRole?.mfaSerial ?? readMfaSerial({ profile: options.profile, env });
  if (options.mfaToken !== undefined && mfaSerial === undefined) {
    throw new CredproxyError(ErrorCode.Usage, "--mfa-token was given but there is no MFA device to use it with", {
      hint: `pass --mfa-serial arn:aws:iam::123456789012:mfa/NAME, or set mfa_serial in profile '${options.profile ?? (env.AWS_PROFILE || "default")}'`,
    });
  }
  // Checked now, so a run that can never get a code fails before anything starts (exit 2).
  const terminal = deps.terminal ?? processTerminal();
  const nextCode = mfaSerial ? createMfaCodeSource({ serial: mfaSerial, token: options.mfaToken, terminal }) : undefined;
  const prompting = nextCode !== undefined && terminal.interactive;

  const sourceOptions = { region: options.region, stsEndpoint: options.stsEndpoint, now: deps.now, context: "broker" as const };
  const sourceSpec: SourceSpec = options.profile ? { kind: "profile", profile: options.profile } : { kind: "default-chain" };
  const raw: SourceProvider =
    deps.source ??
    (profileRole
      ? (deps.profileRoleSource ?? ((r: ProfileRole) => profileRoleSource(r, sourceOptions)))(profileRole)
      : createSourceProvider(sourceSpec, sourceOptions));

  // With MFA, one GetSessionToken(SerialNumber, TokenCode) session is the source of everything,
  // cached for its own lifetime (re-made, with a new code, when less than 5 min are left).
  let source: SourceProvider = raw;
  if (mfaSerial && nextCode) {
    const mfaSeconds = options.roleArn !== undefined || profileRole ? MAX_SESSION_TOKEN_SECONDS : durationSeconds;
    const memo = memoizeSource(async () => {
      const long = await raw();
      const tokenCode = await nextCode();
      const session = await gst(long, { durationSeconds: mfaSeconds, serialNumber: mfaSerial, tokenCode }, sts);
      options.logger.info("MFA session started", { mfa_serial: mfaSerial, expires_at: session.expiration.toISOString() });
      return session;
    }, now);
    source = Object.assign(memo.get, {
      description: `${raw.description} with MFA device ${mfaSerial}`,
      invalidate: () => {
        memo.invalidate();
        raw.invalidate();
      },
    });
  }

  const refreshing = (name: string, fetch: RoleCredentialProvider, logger: Logger, subject: string): RefreshingCredentials => {
    const creds = createRefreshingCredentials({
      name,
      subject,
      quietUntilFirstSuccess: options.firstFailureIsFatal,
      fetch: withSourceInvalidation(fetch, source, logger),
      ...SETTINGS,
      // A fetch may wait for someone to type an MFA code.
      ...(prompting ? { requestTimeoutSeconds: PROMPT_TIMEOUT_SECONDS } : {}),
      logger,
      now: deps.now,
    });
    creds.start();
    return creds;
  };
  const assumeRole =
    deps.assumeRole ??
    ((src: CredentialProvider, params: AssumeRoleSpec) =>
      createAssumeRoleProvider({ source: src, region: options.region, stsEndpoint: options.stsEndpoint, params, logger: options.logger }));
  const make = (roleArn: string, name: string, from: SourceProvider = source, extra: Partial<AssumeRoleSpec> = {}): RefreshingCredentials => {
    const params: AssumeRoleSpec = { RoleArn: roleArn, RoleSessionName: options.sessionName ?? "credproxy-broker", DurationSeconds: durationSeconds, ...extra };
    return refreshing(name, assumeRole(from, params), options.logger.child({ role_arn: roleArn }), `role ${roleArn}`);
  };

  let base: RefreshingCredentials;
  // Where `/role-arn/<ARN>` roles are assumed from: the credentials of the profile itself, as
  // when the SDK resolves a role profile (so a role profile with MFA chains from its role).
  let roleSource: SourceProvider = source;
  if (profileRole) {
    // The profile's own settings win over the broker's defaults, as in aws-vault.
    base = make(profileRole.roleArn, "broker", source, {
      ...(profileRole.roleSessionName ? { RoleSessionName: profileRole.roleSessionName } : {}),
      ...(profileRole.durationSeconds !== undefined ? { DurationSeconds: profileRole.durationSeconds } : {}),
      ...(profileRole.externalId ? { ExternalId: profileRole.externalId } : {}),
    });
    const profileCreds = base;
    roleSource = Object.assign(async () => profileCreds.get(), {
      description: `role ${profileRole.roleArn} of profile '${profileRole.profile}'`,
      invalidate: () => profileCreds.invalidate(),
    });
  } else if (options.roleArn !== undefined) {
    base = make(options.roleArn, "broker");
  } else {
    base = refreshing("broker", sessionProvider(source, durationSeconds, sts, { ...deps, getSessionToken: gst }), options.logger, `the broker's session (${source.description})`);
  }
  const allow = (options.allowRoles ?? []).map(globToRegExp);
  const byArn = new Map<string, RefreshingCredentials>();

  return {
    base,
    mfaSerial,
    forRoleArn(arn) {
      if (!ROLE_ARN.test(arn)) {
        return new CredproxyError(ErrorCode.Usage, `"${arn}" is not an IAM role ARN`, { hint: "use /role-arn/arn:aws:iam::123456789012:role/Name" });
      }
      if (hasDotOrEmptySegment(arn)) {
        return new CredproxyError(ErrorCode.Usage, `"${arn}" has an empty, "." or ".." path segment, which no IAM role ARN has`, {
          hint: "use /role-arn/arn:aws:iam::123456789012:role/Name (or role/path/Name)",
        });
      }
      if (!allow.some((re) => re.test(arn))) {
        return new CredproxyError(ErrorCode.Usage, `role ${arn} is not in the broker's allow-list`, {
          hint: "start the broker with --allow-role <pattern> (for example --allow-role 'arn:aws:iam::123456789012:role/dev-*')",
        });
      }
      let creds = byArn.get(arn);
      if (creds) {
        byArn.delete(arn); // re-insert: most recently used last
      } else {
        creds = make(arn, `role-arn:${arn}`, roleSource);
        if (byArn.size >= MAX_ROLE_CACHES) {
          const [oldest, evicted] = byArn.entries().next().value as [string, RefreshingCredentials];
          evicted.stop();
          byArn.delete(oldest);
        }
      }
      byArn.set(arn, creds);
      return creds;
    },
    stop() {
      base.stop();
      for (const c of byArn.values()) c.stop();
      byArn.clear();
    },
  };
}

/**
 * The source of a role profile with MFA: its source_profile (resolved like any profile, chains
 * included), or its credential_source.
 *
 * @internal exported for tests
 */
export function profileRoleSource(role: ProfileRole, options: SourceProviderOptions): SourceProvider {
  if (role.source.kind === "profile") return createSourceProvider({ kind: "profile", profile: role.source.profile }, options);
  const name = role.source.credentialSource;
  const make = CREDENTIAL_SOURCES[name];
  if (!make) {
    throw new CredproxyError(ErrorCode.Usage, `profile '${role.profile}' has credential_source = ${name}, which credproxy does not know`, {
      hint: `use one of ${Object.keys(CREDENTIAL_SOURCES).join(", ")}, or source_profile`,
    });
  }
  const description = `credential_source ${name} of profile '${role.profile}'`;
  let provider = make();
  const memo = memoizeSource(async () => {
    try {
      const c = await provider();
      return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: c.expiration };
    } catch (error) {
      throw new CredproxyError(ErrorCode.SourceCredentials, `Cannot load source credentials from ${description}: ${error instanceof Error ? error.message : String(error)}`, {
        hint: `check that ${name} credentials are available to credproxy, or give profile '${role.profile}' a source_profile`,
        cause: error,
      });
    }
  }, options.now ?? Date.now);
  return Object.assign(memo.get, {
    description,
    invalidate: () => {
      provider = make();
      memo.invalidate();
    },
  });
}

const CREDENTIAL_SOURCES: Readonly<Record<string, () => CredentialProvider>> = {
  Environment: () => fromEnv(),
  Ec2InstanceMetadata: () => fromInstanceMetadata(),
  EcsContainer: () => fromContainerMetadata(),
};

/**
 * Profile-only mode: the source's credentials as they are when they are already temporary
 * (SSO, a role_arn profile, credential_process with an expiry, an MFA session), else a
 * GetSessionToken session made from the long-term keys; never the long-term keys themselves.
 * The identity (for roleArn/accountId) is asked of STS once and cached.
 *
 * @internal exported for tests
 */
export function sessionProvider(
  source: CredentialProvider,
  durationSeconds: number,
  sts: { region: string; stsEndpoint?: string | undefined; logger?: Logger | undefined },
  deps: Pick<BrokerCredentialsDeps, "getSessionToken" | "getCallerIdentity"> = {},
): RoleCredentialProvider {
  const gst = deps.getSessionToken ?? getSessionToken;
  const gci = deps.getCallerIdentity ?? getCallerIdentity;
  let identity: CallerIdentity | undefined;
  return async (signal) => {
    const c = await source();
    signal?.throwIfAborted();
    const session: SessionCredentials = isTemporary(c) ? c : await gst(c, { durationSeconds }, { ...sts, signal });
    identity ??= await gci(session, { ...sts, signal });
    const served: RoleCredentials = {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken: session.sessionToken,
      expiration: session.expiration,
      roleArn: principalArn(identity.arn),
      accountId: identity.accountId,
      assumedRoleArn: identity.arn,
    };
    return served;
  };
}

function isTemporary(c: AwsCredentials): c is SessionCredentials {
  return typeof c.sessionToken === "string" && c.sessionToken !== "" && c.expiration instanceof Date;
}

/**
 * An --allow-role pattern as a RegExp matching whole ARNs: `*` matches any run of characters
 * within one path segment (never `/`), `**` any run including `/` (as a whole segment between
 * slashes: zero or more segments), and a pattern of just `*` any role ARN. Everything else is
 * literal. So `role/dev-*` admits `role/dev-x` but neither `role/dev-x/admin` nor
 * `role/team/dev-x`; `role/**` admits roles with any path.
 */
export function globToRegExp(pattern: string): RegExp {
  if (pattern === "*") return /^.*$/;
  const literal = (part: string) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const segments = (part: string) => part.split("*").map(literal).join("[^/]*");
  const body = pattern
    .split("/**/") // zero or more whole segments: role/**/dev-* also admits role/dev-x
    .map((between) => between.split("**").map(segments).join(".*"))
    .join("/(?:.*/)?");
  return new RegExp(`^${body}$`);
}

/** Whether the role's path/name part (after `role/`) has an empty, `.` or `..` segment. */
function hasDotOrEmptySegment(arn: string): boolean {
  const resource = arn.slice(arn.indexOf(":role/") + ":role/".length);
  return resource.split("/").some((segment) => segment === "" || segment === "." || segment === "..");
}
