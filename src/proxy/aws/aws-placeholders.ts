/**
 * The placeholder AWS keys a sandbox holds instead of real ones (`credproxy proxy env --aws`).
 * They are shaped like temporary credentials (an ASIA… key id of 20 characters, a 40-character
 * secret, a session token) so SDKs accept them, and derived from the run (its name and token)
 * and the credential's name, so the proxy and `proxy env` agree without sharing state and two
 * runs never share placeholders. They are worth nothing outside the proxy: the proxy recognises
 * a request by the key id in its signature and signs it again with the role's credentials.
 */
import { createHash } from "node:crypto";

export interface AwsPlaceholders {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
}

export interface PlaceholderOwner {
  /** The tenant: "default" or the run's name. */
  readonly tenant: string;
  readonly token: string | undefined;
  readonly credential: string;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function awsPlaceholders(owner: PlaceholderOwner): AwsPlaceholders {
  const digest = (label: string) => createHash("sha256").update(`credproxy aws placeholder ${label}\0${owner.tenant}\0${owner.token ?? ""}\0${owner.credential}`).digest();
  const key = digest("key-id");
  const id = [...key.subarray(0, 16)].map((b) => BASE32[b & 31]).join("");
  const secret = Buffer.concat([digest("secret"), digest("secret-2")]).toString("base64").replace(/[^A-Za-z0-9]/g, "A").slice(0, 40);
  const token = Buffer.concat([digest("token"), digest("token-2"), digest("token-3")]).toString("base64").replace(/=+$/, "");
  return { accessKeyId: `ASIA${id}`, secretAccessKey: secret, sessionToken: `credproxyPlaceholder${token}` };
}
