/**
 * STS calls for the tests, made with the AWS SDK for JavaScript v3 against moto or the
 * sts-gate on loopback. Every call builds its own client with static credentials, region
 * us-east-1 and `maxAttempts: 1`, and destroys it afterwards: nothing is retried, cached or
 * pooled between calls. A call returns what the server sent or throws the SDK's
 * STSServiceException, whose `name` is the AWS error code (InvalidClientTokenId,
 * SignatureDoesNotMatch, AccessDenied, …); `stsFailure` turns such an error into plain data.
 */
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient, STSServiceException, type AssumeRoleCommandInput } from "@aws-sdk/client-sts";
import { assertLoopback } from "./loopback.ts";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface StsOptions {
  /** Client-side request timeout in ms; past it the call rejects with a `TimeoutError`. */
  timeoutMs?: number;
}

/** First text content of `<tag>` in an XML document, for raw moto answers (flat enough for this). */
export function xmlValue(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m?.[1];
}

/**
 * An STS client for `endpoint` (loopback only) that signs with exactly these credentials.
 * Only the three credential fields are passed on, so an `AssumedRole` can be used as is.
 * The caller owns the client and should `destroy()` it.
 */
function stsClient(endpoint: string, credentials: AwsCredentials, options: StsOptions = {}): STSClient {
  assertLoopback(endpoint);
  const { accessKeyId, secretAccessKey, sessionToken } = credentials;
  return new STSClient({
    endpoint,
    region: "us-east-1",
    credentials: sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken },
    maxAttempts: 1,
    ...(options.timeoutMs === undefined ? {} : { requestHandler: { requestTimeout: options.timeoutMs, throwOnRequestTimeout: true } }),
  });
}

async function withSts<T>(endpoint: string, credentials: AwsCredentials, options: StsOptions, call: (sts: STSClient) => Promise<T>): Promise<T> {
  const sts = stsClient(endpoint, credentials, options);
  try {
    return await call(sts);
  } finally {
    sts.destroy();
  }
}

/** The caller's ARN. */
export async function getCallerIdentity(endpoint: string, credentials: AwsCredentials, options: StsOptions = {}): Promise<string> {
  const out = await withSts(endpoint, credentials, options, (sts) => sts.send(new GetCallerIdentityCommand({})));
  if (out.Arn === undefined) throw new Error(`GetCallerIdentity answered without an Arn: ${JSON.stringify(out)}`);
  return out.Arn;
}

export interface AssumeRoleInput {
  roleArn: string;
  roleSessionName: string;
  durationSeconds?: number;
  externalId?: string;
  tags?: Record<string, string>;
}

export interface AssumedRole {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** As the SDK parsed STS's `<Expiration>` (moto writes microseconds; the SDK rounds to ms). */
  expiration: Date;
  assumedRoleArn: string;
}

export function assumeRoleCommandInput(input: AssumeRoleInput): AssumeRoleCommandInput {
  return {
    RoleArn: input.roleArn,
    RoleSessionName: input.roleSessionName,
    DurationSeconds: input.durationSeconds,
    ExternalId: input.externalId,
    Tags: input.tags === undefined ? undefined : Object.entries(input.tags).map(([Key, Value]) => ({ Key, Value })),
  };
}

export async function assumeRole(
  endpoint: string,
  credentials: AwsCredentials,
  input: AssumeRoleInput,
  options: StsOptions = {},
): Promise<AssumedRole> {
  const out = await withSts(endpoint, credentials, options, (sts) => sts.send(new AssumeRoleCommand(assumeRoleCommandInput(input))));
  const c = out.Credentials;
  const assumedRoleArn = out.AssumedRoleUser?.Arn;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration || !assumedRoleArn) {
    throw new Error(`AssumeRole answered without credentials: ${JSON.stringify(out.$metadata)}`);
  }
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration, assumedRoleArn };
}

/** An AWS error response, as the SDK parsed it. */
export interface StsFailure {
  /** HTTP status. */
  status: number | undefined;
  /** The AWS error code, e.g. `InvalidClientTokenId`. */
  errorCode: string;
  /** `<Type>` of the error: `Sender` or `Receiver`. */
  type: string | undefined;
  message: string;
  /** From the `x-amzn-RequestId` header. */
  requestId: string | undefined;
}

/**
 * Awaits an STS call that must fail with an AWS error response and returns that error as
 * data. A success, or a failure that is not an error response from the server (a timeout, a
 * refused connection), is thrown.
 */
export async function stsFailure(call: Promise<unknown>): Promise<StsFailure> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof STSServiceException)) throw err;
    const type = (err as { Type?: unknown }).Type;
    return {
      status: err.$metadata.httpStatusCode,
      errorCode: err.name,
      type: typeof type === "string" ? type : undefined,
      message: err.message,
      requestId: err.$metadata.requestId,
    };
  }
  throw new Error("expected the STS call to fail with an AWS error, but it succeeded");
}
