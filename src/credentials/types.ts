/**
 * Credential shapes shared by every subcommand. A provider is just an async function, the same
 * contract as the AWS SDK's AwsCredentialIdentityProvider, so SDK providers plug in directly.
 */

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  /** Absent for long-term keys. */
  readonly expiration?: Date | undefined;
}

export type CredentialProvider = () => Promise<AwsCredentials>;

/** Temporary credentials for an assumed role: everything the ECS/IMDS responses need. */
export interface RoleCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
  readonly roleArn: string;
  /** The 12-digit account, taken from the assumed-role ARN. */
  readonly accountId: string;
  /** The STS assumed-role user ARN (arn:aws:sts::…:assumed-role/<role>/<session>). */
  readonly assumedRoleArn: string;
}

export type RoleCredentialProvider = (signal?: AbortSignal) => Promise<RoleCredentials>;
