/**
 * The ECS container-credentials JSON body (AWS_CONTAINER_CREDENTIALS_FULL_URI contract).
 */
import type { RoleCredentials } from "./types";

export interface EcsCredentialsResponse {
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly Token: string;
  /** `YYYY-MM-DDTHH:MM:SSZ`. */
  readonly Expiration: string;
  /** The role, as the real ECS agent reports it. */
  readonly RoleArn: string;
  /** botocore and JS v3 use it for account-based endpoints. */
  readonly AccountId: string;
}

export function toEcsResponse(creds: RoleCredentials): EcsCredentialsResponse {
  return {
    AccessKeyId: creds.accessKeyId,
    SecretAccessKey: creds.secretAccessKey,
    Token: creds.sessionToken,
    Expiration: formatExpiration(creds.expiration),
    RoleArn: creds.roleArn,
    AccountId: creds.accountId,
  };
}

/**
 * UTC, whole seconds, `Z`: `2026-11-22T12:16:47Z`. The JS v3 SDK rejects `+00:00` offsets, and
 * botocore's IMDS expiry handling needs whole seconds; STS and moto send microseconds. The
 * fraction is cut off, never rounded up, so we never claim a later expiry than STS gave.
 */
export function formatExpiration(date: Date): string {
  return date.toISOString().slice(0, 19) + "Z";
}
