/**
 * sts:GetSessionToken and sts:GetCallerIdentity for the broker's profile-only and MFA modes.
 *
 * Same rules as assume-role.ts: one STS call per request (maxAttempts 1: the credential cache
 * owns back-off), the explicit `stsEndpoint` wins, else the SDK's AWS_ENDPOINT_URL_STS /
 * AWS_ENDPOINT_URL / `endpoint_url` handling. Failures become CredproxyError(AssumeRole) that
 * keep the AWS code (so withSourceInvalidation can react to rejected source keys). MFA codes
 * are never put into messages or logs.
 */
import { CredproxyError, ErrorCode } from "../errors";
import type { Logger } from "../log";
import { errorCode, errorText } from "./_error-text";
import { describeEndpoint, loadSts } from "./assume-role";
import type { AwsCredentials } from "./types";

/** Temporary credentials: a session token and an expiry are always present. */
export interface SessionCredentials extends AwsCredentials {
  readonly sessionToken: string;
  readonly expiration: Date;
}

export interface StsCallOptions {
  readonly region: string;
  readonly stsEndpoint?: string | undefined;
  readonly logger?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface GetSessionTokenParams {
  readonly durationSeconds: number;
  /** The MFA device ARN (or serial number); with it, `tokenCode` is required. */
  readonly serialNumber?: string | undefined;
  readonly tokenCode?: string | undefined;
}

/** The largest DurationSeconds GetSessionToken accepts for IAM users. */
export const MAX_SESSION_TOKEN_SECONDS = 43_200;

export async function getSessionToken(source: AwsCredentials, params: GetSessionTokenParams, options: StsCallOptions): Promise<SessionCredentials> {
  const { STSClient, GetSessionTokenCommand } = await loadSts();
  const client = new STSClient({
    region: options.region,
    credentials: identity(source),
    maxAttempts: 1,
    ...(options.stsEndpoint ? { endpoint: options.stsEndpoint } : {}),
  });
  const what = params.serialNumber ? `sts:GetSessionToken with MFA device ${params.serialNumber}` : "sts:GetSessionToken";
  try {
    options.signal?.throwIfAborted();
    options.logger?.debug("calling sts:GetSessionToken", { mfa: params.serialNumber !== undefined, endpoint: describeEndpoint(options) });
    const out = await client.send(
      new GetSessionTokenCommand({
        DurationSeconds: params.durationSeconds,
        ...(params.serialNumber !== undefined ? { SerialNumber: params.serialNumber, TokenCode: params.tokenCode } : {}),
      }),
      options.signal ? { abortSignal: options.signal } : {},
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(c.Expiration instanceof Date)) {
      throw new CredproxyError(ErrorCode.AssumeRole, `${what} returned an incomplete response`, {
        hint: "Check that AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL) points at STS",
      });
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  } catch (error) {
    if (options.signal?.aborted && options.signal.reason instanceof CredproxyError) throw options.signal.reason;
    if (error instanceof CredproxyError) throw error;
    throw stsError(what, error, options, params.serialNumber !== undefined);
  } finally {
    client.destroy();
  }
}

export interface CallerIdentity {
  readonly arn: string;
  readonly accountId: string;
}

export async function getCallerIdentity(creds: AwsCredentials, options: StsCallOptions): Promise<CallerIdentity> {
  const { STSClient, GetCallerIdentityCommand } = await loadSts();
  const client = new STSClient({
    region: options.region,
    credentials: identity(creds),
    maxAttempts: 1,
    ...(options.stsEndpoint ? { endpoint: options.stsEndpoint } : {}),
  });
  try {
    const out = await client.send(new GetCallerIdentityCommand({}), options.signal ? { abortSignal: options.signal } : {});
    if (!out.Arn || !out.Account) {
      throw new CredproxyError(ErrorCode.AssumeRole, "sts:GetCallerIdentity returned an incomplete response", {
        hint: "Check that AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL) points at STS",
      });
    }
    return { arn: out.Arn, accountId: out.Account };
  } catch (error) {
    if (options.signal?.aborted && options.signal.reason instanceof CredproxyError) throw options.signal.reason;
    if (error instanceof CredproxyError) throw error;
    throw stsError("sts:GetCallerIdentity", error, options, false);
  } finally {
    client.destroy();
  }
}

/**
 * The IAM role ARN behind an STS assumed-role ARN (arn:aws:sts::1:assumed-role/Name/session →
 * arn:aws:iam::1:role/Name); any other ARN (an IAM user, a federated user) is returned as is.
 */
export function principalArn(arn: string): string {
  const m = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : arn;
}

function identity(c: AwsCredentials): { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date } {
  return {
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}),
    ...(c.expiration ? { expiration: c.expiration } : {}),
  };
}

function stsError(what: string, error: unknown, options: StsCallOptions, mfa: boolean): CredproxyError {
  const code = errorCode(error);
  const text = errorText(error);
  const endpoint = describeEndpoint(options);
  const sdk = error as { $metadata?: { httpStatusCode?: number }; $fault?: unknown };
  const status = sdk.$metadata?.httpStatusCode;
  const network = sdk.$metadata !== undefined && status === undefined && !sdk.$fault;
  const shown = code && !text.startsWith(code) ? `${code}: ${text}` : text;
  let hint: string | undefined;
  if (network) hint = `Check that ${endpoint} is reachable from credproxy (AWS_ENDPOINT_URL_STS, network and DNS)`;
  else if (mfa && (code === "AccessDenied" || code === "AccessDeniedException")) {
    hint = "Check the MFA code (a fresh one from the device) and that the MFA device ARN belongs to the source user";
  } else if (code === "AccessDenied" || code === "AccessDeniedException") {
    hint = "GetSessionToken needs long-term IAM user keys; temporary credentials cannot call it";
  } else if (code === "InvalidClientTokenId" || code === "SignatureDoesNotMatch") {
    hint = "STS does not recognise the source credentials: check the access key and its secret";
  }
  return new CredproxyError(ErrorCode.AssumeRole, `${what} failed${network ? ` as STS is unreachable at ${endpoint}` : ""}: ${shown}`, {
    hint,
    cause: error,
    details: { endpoint, ...(code ? { awsCode: code } : {}), ...(status ? { httpStatus: status } : {}) },
  });
}
