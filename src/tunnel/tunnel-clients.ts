/**
 * The EC2 and SSM clients `credproxy tunnel` uses to find its instance and open sessions.
 *
 * Endpoints: AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_SSM (then AWS_ENDPOINT_URL, then the
 * profile's `services` section or `endpoint_url`) are honoured, which is how tests point the
 * clients at moto and local fakes. The SDK (since 3.5xx) reads the variables itself, but not the
 * file settings of the client's `profile`, so tunnel-clients-endpoint.ts resolves all of them
 * for `profile` and the result is passed as `endpoint`; nothing configured leaves the SDK's
 * regional default. find-instance.test.ts proves the variables and the profile are read.
 *
 * Credentials come from the shared credential core as a provider; the SDK caches what it returns
 * and asks again when an `expiration` nears, so temporary credentials are renewed without
 * rebuilding the clients.
 */
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { AwsCredentials, CredentialProvider } from "../credentials/types";
import { configuredEndpoint } from "./tunnel-clients-endpoint";

export interface TunnelClientsOptions {
  readonly region: string;
  /** Shared config profile whose `endpoint_url` / `services` are honoured; credentials still come from `credentials`. */
  readonly profile?: string | undefined;
  readonly credentials: CredentialProvider;
}

export interface TunnelClients {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  /** The SSM endpoint configured for the client, if any (recorded for `tunnel down --force`). */
  readonly ssmEndpoint: string | undefined;
  /** Releases both clients' sockets. */
  destroy(): void;
}

export async function tunnelClients(options: TunnelClientsOptions): Promise<TunnelClients> {
  const [ec2Endpoint, ssmEndpoint] = await Promise.all([configuredEndpoint("EC2", options.profile), configuredEndpoint("SSM", options.profile)]);
  const config = {
    region: options.region,
    credentials: async () => sdkIdentity(await options.credentials()),
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
  };
  const ec2 = new EC2Client({ ...config, ...(ec2Endpoint ? { endpoint: ec2Endpoint } : {}) });
  const ssm = new SSMClient({ ...config, ...(ssmEndpoint ? { endpoint: ssmEndpoint } : {}) });
  return {
    ec2,
    ssm,
    ssmEndpoint: ssmEndpoint || undefined,
    destroy() {
      ec2.destroy();
      ssm.destroy();
    },
  };
}

/** The SDK's identity shape (its optional fields do not accept an explicit `undefined`). */
export function sdkIdentity(c: AwsCredentials): { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date } {
  return {
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}),
    ...(c.expiration ? { expiration: c.expiration } : {}),
  };
}
