/**
 * sts:AssumeRole as a RoleCredentialProvider: resolve the source credentials, call STS once
 * (no SDK retries: the credential cache owns back-off, and every call stays countable), and map
 * failures to CredproxyError(AssumeRole) that keep the AWS code and message.
 *
 * Endpoint: the explicit `stsEndpoint` wins. Otherwise we rely on the SDK, which honours
 * AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, then `endpoint_url` in the shared config profile,
 * unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is set (read in @smithy/core
 * `getEndpointUrlConfig`, checked against moto in assume-role.integ.test.ts). We read those
 * variables ourselves only to name the endpoint in error messages.
 *
 * One STSClient is built per call: creating one costs about 0.15 ms once the module is loaded
 * (4 ms for the first), AssumeRole runs at most every few minutes per service, and a fresh client
 * takes the current source credentials without fighting the SDK's own identity cache.
 */
import type { AssumeRoleCommandInput, AssumeRoleCommandOutput } from "@aws-sdk/client-sts";
import type { AssumeRoleSpec } from "../config/types";
import { CredproxyError, ErrorCode } from "../errors";
import type { Logger } from "../log";
import { errorCode, errorText } from "./_error-text";
import type { AwsCredentials, CredentialProvider, RoleCredentialProvider, RoleCredentials } from "./types";

export interface AssumeRoleOptions {
  readonly source: CredentialProvider;
  readonly region: string;
  readonly stsEndpoint?: string | undefined;
  readonly params: AssumeRoleSpec;
  readonly logger?: Logger | undefined;
  /** Called once for every AssumeRole request sent (for metrics and tests). */
  readonly onStsCall?: (() => void) | undefined;
}

/**
 * The STS client module, loaded on first use: it costs ~140 ms to import, which `validate` and
 * `--help` need not pay.
 */
let stsModule: Promise<typeof import("@aws-sdk/client-sts")> | undefined;
export const loadSts = (): Promise<typeof import("@aws-sdk/client-sts")> => (stsModule ??= import("@aws-sdk/client-sts"));

export function createAssumeRoleProvider(options: AssumeRoleOptions): RoleCredentialProvider {
  const { params, region, logger } = options;
  const input = toAssumeRoleInput(params);

  return async (signal) => {
    signal?.throwIfAborted();
    const source = await resolveSource(options.source);
    signal?.throwIfAborted();
    const { STSClient, AssumeRoleCommand } = await loadSts();
    const client = new STSClient({
      region,
      credentials: staticIdentity(source),
      maxAttempts: 1,
      ...(options.stsEndpoint ? { endpoint: options.stsEndpoint } : {}),
    });
    try {
      options.onStsCall?.();
      logger?.debug("calling sts:AssumeRole", { roleArn: params.RoleArn, endpoint: describeEndpoint(options) });
      const out = await client.send(new AssumeRoleCommand(input), signal ? { abortSignal: signal } : {});
      return toRoleCredentials(params.RoleArn, out);
    } catch (error) {
      if (signal?.aborted && signal.reason instanceof CredproxyError) throw signal.reason;
      if (error instanceof CredproxyError) throw error;
      throw assumeRoleError(error, options);
    } finally {
      client.destroy();
    }
  };
}

async function resolveSource(source: CredentialProvider): Promise<AwsCredentials> {
  try {
    return await source();
  } catch (error) {
    if (error instanceof CredproxyError) throw error;
    throw new CredproxyError(ErrorCode.SourceCredentials, `Cannot load source credentials: ${errorText(error)}`, { cause: error });
  }
}

/** Every AssumeRole parameter from the config; absent ones are left out of the request. */
export function toAssumeRoleInput(params: AssumeRoleSpec): AssumeRoleCommandInput {
  const input: AssumeRoleCommandInput = {
    RoleArn: params.RoleArn,
    RoleSessionName: params.RoleSessionName,
    DurationSeconds: params.DurationSeconds,
  };
  if (params.ExternalId !== undefined) input.ExternalId = params.ExternalId;
  if (params.Policy !== undefined) input.Policy = params.Policy;
  if (params.PolicyArns !== undefined) input.PolicyArns = params.PolicyArns.map((p) => ({ arn: p.arn }));
  if (params.Tags !== undefined) input.Tags = params.Tags.map((t) => ({ Key: t.Key, Value: t.Value }));
  if (params.TransitiveTagKeys !== undefined) input.TransitiveTagKeys = [...params.TransitiveTagKeys];
  if (params.SerialNumber !== undefined) input.SerialNumber = params.SerialNumber;
  if (params.TokenCode !== undefined) input.TokenCode = params.TokenCode;
  if (params.SourceIdentity !== undefined) input.SourceIdentity = params.SourceIdentity;
  return input;
}

/** The endpoint as a human would want it named: explicit, then the env variables, then AWS. */
export function describeEndpoint(options: { stsEndpoint?: string | undefined; region: string }): string {
  return (
    options.stsEndpoint ||
    process.env.AWS_ENDPOINT_URL_STS ||
    process.env.AWS_ENDPOINT_URL ||
    `https://sts.${options.region}.amazonaws.com`
  );
}

/** The SDK's identity shape (its optional fields do not accept an explicit `undefined`). */
function staticIdentity(c: AwsCredentials): { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date } {
  return {
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}),
    ...(c.expiration ? { expiration: c.expiration } : {}),
  };
}

function toRoleCredentials(roleArn: string, out: AssumeRoleCommandOutput): RoleCredentials {
  const c = out.Credentials;
  const assumedRoleArn = out.AssumedRoleUser?.Arn;
  const accountId = assumedRoleArn?.split(":")[4];
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(c.Expiration instanceof Date) || !assumedRoleArn || !accountId) {
    throw new CredproxyError(ErrorCode.AssumeRole, `sts:AssumeRole on ${roleArn} returned an incomplete response`, {
      hint: "Check that sts_endpoint (or AWS_ENDPOINT_URL_STS) points at STS",
    });
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    expiration: c.Expiration,
    roleArn,
    accountId,
    assumedRoleArn,
  };
}

const SOURCE_REJECTED = new Set(["InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "IncompleteSignature", "InvalidAccessKeyId"]);
const SOURCE_EXPIRED = new Set(["ExpiredToken", "ExpiredTokenException", "RequestExpired"]);
const NETWORK = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "ConnectionRefused", "TimeoutError"]);

/** AWS codes of failures caused by the source credentials themselves (worth re-resolving them). */
export function isSourceCredentialFault(code: string | undefined): boolean {
  return code !== undefined && (SOURCE_REJECTED.has(code) || SOURCE_EXPIRED.has(code));
}

function assumeRoleError(error: unknown, options: AssumeRoleOptions): CredproxyError {
  const code = errorCode(error);
  const text = errorText(error);
  const endpoint = describeEndpoint(options);
  const { RoleArn } = options.params;
  const sdk = error as { $metadata?: { httpStatusCode?: number }; $fault?: unknown };
  const status = sdk.$metadata?.httpStatusCode;
  // The SDK's transport errors carry $metadata without a status and no $fault.
  const network = (code !== undefined && NETWORK.has(code)) || (sdk.$metadata !== undefined && status === undefined && !sdk.$fault);
  const shown =
    code === "Unknown" && status !== undefined
      ? `HTTP ${status} with a response that is not from STS`
      : code && !text.startsWith(code)
        ? `${code}: ${text}`
        : text;
  const message = network
    ? `sts:AssumeRole on ${RoleArn} failed as STS is unreachable at ${endpoint}: ${shown}`
    : `sts:AssumeRole on ${RoleArn} failed: ${shown}`;
  return new CredproxyError(ErrorCode.AssumeRole, message, {
    hint: network ? `Check that ${endpoint} is reachable from credproxy (sts_endpoint, AWS_ENDPOINT_URL_STS, network and DNS)` : hintFor(code, status, options),
    cause: error,
    details: { roleArn: RoleArn, endpoint, ...(code ? { awsCode: code } : {}), ...(status ? { httpStatus: status } : {}) },
  });
}

function hintFor(code: string | undefined, status: number | undefined, options: AssumeRoleOptions): string | undefined {
  const p = options.params;
  if (code === "AccessDenied" || code === "AccessDeniedException") {
    const extra = [
      p.Tags || p.TransitiveTagKeys ? "sts:TagSession" : undefined,
      p.SourceIdentity ? "sts:SetSourceIdentity" : undefined,
    ].filter(Boolean);
    return (
      `Check that the trust policy of ${p.RoleArn} allows the source identity to assume it, and that the source identity ` +
      `is allowed sts:AssumeRole${extra.length ? ` and ${extra.join(" and ")}` : ""} on it` +
      (p.ExternalId ? "; also check that ExternalId matches the trust policy's sts:ExternalId condition" : "")
    );
  }
  if (code && SOURCE_REJECTED.has(code)) {
    return "The source credentials are wrong: STS does not recognise the access key or its secret. Check source_credentials (iam_keys, iam_profile, or the environment of the default chain)";
  }
  if (code && SOURCE_EXPIRED.has(code)) {
    return "The source credentials' session has expired: renew them (a new session token, `aws sso login`, or a fresh profile) or use long-term keys";
  }
  if (code === "RegionDisabledException" || code === "RegionDisabled") {
    return `STS is not activated in region ${options.region} for this account: activate it in IAM account settings or use another region`;
  }
  if (code === "MalformedPolicyDocument" || code === "PackedPolicyTooLarge" || code === "ValidationError") {
    return "Check the assumed_role parameters (Policy, PolicyArns, Tags, DurationSeconds within the role's maximum session duration)";
  }
  if (code === "Throttling" || code === "ThrottlingException" || code === "RequestLimitExceeded") {
    return "STS is throttling requests; credproxy retries with back-off";
  }
  if (code === "Unknown" || status === undefined || status >= 500) {
    return `Check that ${describeEndpoint(options)} is an STS endpoint and is healthy`;
  }
  return undefined;
}
