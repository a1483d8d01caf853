// Run by clients.ts with `node`: the AWS SDK for JavaScript v3 default credential chain,
// no explicit credentials, region and STS endpoint from the environment. Prints one JSON line.
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

const client = new STSClient({});
const credentials = await client.config.credentials();
const identity = await client.send(new GetCallerIdentityCommand({}));
console.log(
  JSON.stringify({
    arn: identity.Arn,
    account: identity.Account,
    accessKeyId: credentials.accessKeyId,
    // The SDK tags credentials with where they came from, e.g. CREDENTIALS_HTTP.
    method: Object.keys(credentials.$source ?? {}).join(",") || undefined,
  }),
);
