/**
 * The credentials credproxy signs sts:AssumeRole with, from one of three sources: the SDK's
 * default chain, a named profile (with source_profile/role_arn chains and credential_process),
 * or static keys from the config. Failures become CredproxyError(SourceCredentials) whose message
 * names the source and whose hint names the fix.
 */
import type { AssumeRoleCommandInput } from "@aws-sdk/client-sts";
import { fromIni, fromNodeProviderChain } from "@aws-sdk/credential-providers";
import type { SourceSpec } from "../config/types";
import { CredproxyError, ErrorCode } from "../errors";
import { errorText } from "./_error-text";
import { loadSts } from "./assume-role";
import type { AwsCredentials, CredentialProvider } from "./types";

export interface SourceProviderOptions {
  /** Region for the STS calls a profile's role_arn/source_profile chain makes. */
  readonly region: string;
  /** STS endpoint for those calls (the service's `sts_endpoint`); else the SDK's AWS_ENDPOINT_URL_STS handling. */
  readonly stsEndpoint?: string | undefined;
  readonly now?: (() => number) | undefined;
  /**
   * Who asks, for the hints of errors: serve (a container with a config file) or the broker
   * (a developer's shell with flags and ~/.aws). Default "serve".
   */
  readonly context?: "serve" | "broker" | undefined;
}

/** A memoized source. `invalidate()` forgets the cached credentials (e.g. after STS rejected them). */
export type SourceProvider = CredentialProvider & {
  readonly description: string;
  invalidate(): void;
};

/** SDK-resolved credentials are re-resolved when less than this is left (the SDK default chain uses 5 min too). */
export const SOURCE_EXPIRY_WINDOW_MS = 300_000;

const CHAIN_HINTS = {
  serve:
    "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for credproxy, mount ~/.aws into its container, " +
    "or set source_credentials.iam_profile or source_credentials.iam_keys in the config",
  broker: "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile (or AWS_PROFILE, or profile: in the broker config); for an SSO profile run aws sso login first",
} as const;

export function createSourceProvider(spec: SourceSpec, options: SourceProviderOptions): SourceProvider {
  const description = describeSource(spec);
  if (spec.kind === "static") {
    const creds: AwsCredentials = {
      accessKeyId: spec.accessKeyId,
      secretAccessKey: spec.secretAccessKey,
      ...(spec.sessionToken ? { sessionToken: spec.sessionToken } : {}),
    };
    return Object.assign(async () => creds, { description, invalidate: () => {} });
  }

  const roleAssumer = createProfileRoleAssumer(options);
  // ignoreCache: re-read ~/.aws whenever we re-resolve (rare: memoized below), so rotated keys are seen.
  const makeSdkProvider = () =>
    spec.kind === "profile"
      ? fromIni({
          profile: spec.profile,
          ...(spec.credentialsFile ? { filepath: spec.credentialsFile } : {}),
          ...(spec.configFile ? { configFilepath: spec.configFile } : {}),
          ignoreCache: true,
          roleAssumer,
        })
      : fromNodeProviderChain({ ignoreCache: true, roleAssumer });
  // The default chain memoizes on its own, so invalidate() builds a fresh one.
  let sdkProvider = makeSdkProvider();

  const resolve = async (): Promise<AwsCredentials> => {
    try {
      const c = await sdkProvider();
      return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: c.expiration };
    } catch (error) {
      throw sourceError(spec, error, options.context ?? "serve");
    }
  };
  const memo = memoizeSource(resolve, options.now ?? Date.now);
  const invalidate = (): void => {
    sdkProvider = makeSdkProvider();
    memo.invalidate();
  };
  return Object.assign(memo.get, { description, invalidate });
}

/**
 * Assumes the roles of a profile's `role_arn` + `source_profile` chain in the service's region
 * and at its STS endpoint (so chains work against a local STS too).
 *
 * We pass this instead of the SDK's `clientConfig`, because `clientConfig` also configures the
 * SSO client, and its `region` would override the profile's `sso_region`.
 */
function createProfileRoleAssumer(options: SourceProviderOptions) {
  return async (source: AwsCredentialIdentity, params: AssumeRoleCommandInput): Promise<AwsCredentialIdentity> => {
    const { STSClient, AssumeRoleCommand } = await loadSts();
    const client = new STSClient({
      region: options.region,
      credentials: source,
      ...(options.stsEndpoint ? { endpoint: options.stsEndpoint } : {}),
    });
    try {
      const c = (await client.send(new AssumeRoleCommand(params))).Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`sts:AssumeRole on ${params.RoleArn} returned no credentials`);
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        ...(c.Expiration ? { expiration: c.Expiration } : {}),
      };
    } finally {
      client.destroy();
    }
  };
}

/** The SDK's identity shape (its optional fields do not accept an explicit `undefined`). */
interface AwsCredentialIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** How a source is named in messages: "the default credential chain", "profile 'dev'", "static keys AKIA…WXYZ". */
export function describeSource(spec: SourceSpec): string {
  switch (spec.kind) {
    case "default-chain":
      return "the default credential chain";
    case "profile":
      return `profile '${spec.profile}'`;
    case "static":
      return `the static keys (source_credentials.iam_keys, ${spec.accessKeyId.slice(0, 4)}…${spec.accessKeyId.slice(-4)})`;
  }
}

/**
 * Caches a provider's credentials until they come within SOURCE_EXPIRY_WINDOW_MS of expiry
 * (forever when they have no expiry), sharing one in-flight resolution between callers.
 * Failures are not cached.
 *
 * @internal exported for tests
 */
export function memoizeSource(
  provider: CredentialProvider,
  now: () => number,
): { get: CredentialProvider; invalidate(): void } {
  let cached: AwsCredentials | undefined;
  let inflight: Promise<AwsCredentials> | undefined;
  let generation = 0;
  const fresh = (c: AwsCredentials): boolean =>
    c.expiration === undefined || c.expiration.getTime() - now() > SOURCE_EXPIRY_WINDOW_MS;
  return {
    get: () => {
      if (cached && fresh(cached)) return Promise.resolve(cached);
      if (inflight) return inflight;
      const gen = generation;
      const p = provider().then((c) => {
        if (gen === generation) cached = c;
        return c;
      });
      inflight = p;
      const clear = (): void => {
        if (inflight === p) inflight = undefined;
      };
      p.then(clear, clear);
      return p;
    },
    invalidate: () => {
      generation += 1;
      cached = undefined;
      inflight = undefined;
    },
  };
}

function sourceError(spec: SourceSpec, error: unknown, context: "serve" | "broker"): CredproxyError {
  const cause = errorText(error);
  if (spec.kind === "profile") {
    const files = [spec.configFile, spec.credentialsFile].filter((f): f is string => !!f);
    const where = files.length > 0 ? files.join(" and ") : "~/.aws/config and ~/.aws/credentials (or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE)";
    return new CredproxyError(ErrorCode.SourceCredentials, `Cannot load source credentials from profile '${spec.profile}': ${cause}`, {
      hint:
        context === "broker"
          ? `Check that profile '${spec.profile}' is defined in ${where}, and that any source_profile, role_arn, sso_session or credential_process it uses works (aws sts get-caller-identity --profile ${spec.profile})`
          : `Check that profile '${spec.profile}' is defined in ${where}, that those files are mounted into credproxy's container, ` +
            "and that any source_profile, role_arn or credential_process it uses works; or use source_credentials.iam_keys instead",
      cause: error,
      details: { source: "profile", profile: spec.profile },
    });
  }
  const nothingFound = /could not load credentials from any providers/i.test(cause);
  const message = nothingFound
    ? `Cannot load source credentials as the default credential chain found no credentials (${cause})`
    : `Cannot load source credentials from the default credential chain: ${cause}`;
  return new CredproxyError(ErrorCode.SourceCredentials, message, {
    hint: CHAIN_HINTS[context],
    cause: error,
    details: { source: "default-chain" },
  });
}
