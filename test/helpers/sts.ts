/**
 * Tiny STS query-API client for the tests, on top of our own SigV4 signer. It is deliberately
 * not the AWS SDK: the SDK retries, caches and hides failures, while these calls return
 * exactly what the server said.
 */
import { assertLoopback } from "./loopback.ts";
import { signRequest, type AwsCredentials } from "./sigv4.ts";

export type { AwsCredentials } from "./sigv4.ts";

export interface QueryResult {
  status: number;
  body: string;
  /** `<Code>` of an error response, if any. */
  errorCode: string | undefined;
}

export interface QueryOptions {
  service?: string;
  region?: string;
  /** Sign for this Host header (and send it) instead of the endpoint's own host. */
  host?: string;
  signal?: AbortSignal;
}

/** First text content of `<tag>` in an XML document (these responses are flat enough). */
export function xmlValue(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m?.[1];
}

/**
 * POSTs a query-API form (`Action=…&Version=…`). With `credentials === null` the request is
 * sent unsigned.
 */
export async function awsQuery(
  endpoint: string,
  credentials: AwsCredentials | null,
  params: Record<string, string>,
  options: QueryOptions = {},
): Promise<QueryResult> {
  const url = assertLoopback(endpoint);
  const body = new URLSearchParams(params).toString();
  let headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded; charset=utf-8" };
  if (options.host !== undefined) headers.host = options.host;
  if (credentials !== null) {
    headers = signRequest({
      method: "POST",
      url,
      headers,
      body,
      service: options.service ?? "sts",
      region: options.region ?? "us-east-1",
      credentials,
    });
  }
  const res = await fetch(url, { method: "POST", headers, body, ...(options.signal ? { signal: options.signal } : {}) });
  const text = await res.text();
  return { status: res.status, body: text, errorCode: res.ok ? undefined : xmlValue(text, "Code") };
}

export class AwsQueryError extends Error {
  constructor(
    readonly action: string,
    readonly result: QueryResult,
  ) {
    super(`${action} failed: HTTP ${result.status} ${result.errorCode ?? ""} ${result.body.slice(0, 300)}`);
    this.name = "AwsQueryError";
  }
}

export async function getCallerIdentity(endpoint: string, credentials: AwsCredentials, options: QueryOptions = {}): Promise<string> {
  const r = await awsQuery(endpoint, credentials, { Action: "GetCallerIdentity", Version: "2011-06-15" }, options);
  const arn = xmlValue(r.body, "Arn");
  if (r.status !== 200 || arn === undefined) throw new AwsQueryError("GetCallerIdentity", r);
  return arn;
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
  /** As STS wrote it (moto: microseconds and `Z`). */
  expiration: string;
  assumedRoleArn: string;
}

export function assumeRoleParams(input: AssumeRoleInput): Record<string, string> {
  const params: Record<string, string> = {
    Action: "AssumeRole",
    Version: "2011-06-15",
    RoleArn: input.roleArn,
    RoleSessionName: input.roleSessionName,
  };
  if (input.durationSeconds !== undefined) params.DurationSeconds = String(input.durationSeconds);
  if (input.externalId !== undefined) params.ExternalId = input.externalId;
  Object.entries(input.tags ?? {}).forEach(([key, value], i) => {
    params[`Tags.member.${i + 1}.Key`] = key;
    params[`Tags.member.${i + 1}.Value`] = value;
  });
  return params;
}

export function parseAssumeRole(body: string): AssumedRole | undefined {
  const accessKeyId = xmlValue(body, "AccessKeyId");
  const secretAccessKey = xmlValue(body, "SecretAccessKey");
  const sessionToken = xmlValue(body, "SessionToken");
  const expiration = xmlValue(body, "Expiration");
  const assumedRoleArn = xmlValue(body, "Arn");
  if (!accessKeyId || !secretAccessKey || !sessionToken || !expiration || !assumedRoleArn) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken, expiration, assumedRoleArn };
}

export async function assumeRole(
  endpoint: string,
  credentials: AwsCredentials,
  input: AssumeRoleInput,
  options: QueryOptions = {},
): Promise<AssumedRole> {
  const r = await awsQuery(endpoint, credentials, assumeRoleParams(input), options);
  const parsed = r.status === 200 ? parseAssumeRole(r.body) : undefined;
  if (parsed === undefined) throw new AwsQueryError("AssumeRole", r);
  return parsed;
}
