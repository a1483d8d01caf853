import { Sha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentials } from "../credentials/types.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";

/**
 * SigV4 for the WebSocket upgrade to the ssmmessages StreamUrl, as session-manager-plugin has
 * done since 1.2.764.0: a body-less `GET <StreamUrl>` signed for service `ssmmessages`, with
 * Authorization, X-Amz-Date and (for temporary credentials) X-Amz-Security-Token sent as
 * headers on the upgrade. Signed headers are exactly host, x-amz-date and x-amz-security-token:
 * no x-amz-content-sha256 (the Go signer never sent one), nothing WebSocket-specific.
 *
 * The URL is sent as returned; only the canonical query is normalised the way the Go signer
 * does it: the query is form-decoded (`+` is a space, `%2B` a plus) and each key and value
 * re-encoded RFC 3986 style, so a base64 cell-number `ab+c/d=` is signed as `ab%20c%2Fd%3D`.
 */
export interface UpgradeSigningInput {
  /** The StreamUrl exactly as dialled (after any endpoint override). */
  readonly url: string;
  readonly credentials: Pick<AwsCredentials, "accessKeyId" | "secretAccessKey" | "sessionToken">;
  /** The signing time; injectable for tests. */
  readonly date?: Date;
  /** The session's region; by default read from the host (`ssmmessages.<region>.…`). */
  readonly region?: string;
}

/** Header name → value, to add to the WebSocket upgrade request. */
export type UpgradeHeaders = Record<string, string>;

const SERVICE = "ssmmessages";
const PRESIGN_PARAMS = ["x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires", "x-amz-signedheaders", "x-amz-signature", "x-amz-security-token"];
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/**
 * The headers that sign the upgrade to `input.url`. A URL that already carries presigned
 * X-Amz-* query parameters gets none (the plugin does the same). The Host the server sees
 * must be `new URL(url).host`, which is what a WebSocket client sends by default.
 */
export async function signStreamUpgrade(input: UpgradeSigningInput): Promise<UpgradeHeaders> {
  const url = new URL(input.url);
  if (isPresignedUrl(url)) return {};
  const region = input.region ?? regionFromStreamHost(url.hostname);
  if (region === undefined) {
    throw new CredproxyError(ErrorCode.Usage, `cannot tell the AWS region of the stream host ${url.hostname} to sign the WebSocket upgrade`, {
      hint: "pass --region (the session's region)",
    });
  }
  const { accessKeyId, secretAccessKey, sessionToken } = input.credentials;
  const signer = new SignatureV4({
    service: SERVICE,
    region,
    sha256: Sha256,
    credentials: sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey },
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: "GET",
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: formDecodedQuery(url),
      headers: { host: url.host },
    },
    { signingDate: input.date ?? new Date() },
  );
  return pickSignatureHeaders(signed.headers);
}

/**
 * The region in an ssmmessages host: `ssmmessages.<region>.amazonaws.com[.cn]`,
 * `ssmmessages-fips.<region>.…` or a VPC endpoint `vpce-….ssmmessages.<region>.vpce.amazonaws.com`.
 */
export function regionFromStreamHost(hostname: string): string | undefined {
  const labels = hostname.toLowerCase().split(".");
  const at = labels.findIndex((label) => label === SERVICE || label === `${SERVICE}-fips`);
  const region = at >= 0 ? labels[at + 1] : undefined;
  return region !== undefined && REGION.test(region) ? region : undefined;
}

/** True when the URL already carries a SigV4 query signature and must not be signed again. */
export function isPresignedUrl(url: URL): boolean {
  return [...url.searchParams.keys()].some((key) => PRESIGN_PARAMS.includes(key.toLowerCase()));
}

/** The query as the Go signer sees it: form-decoded, repeated keys kept in order. */
function formDecodedQuery(url: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return query;
}

function pickSignatureHeaders(headers: Record<string, string>): UpgradeHeaders {
  const out: UpgradeHeaders = { Authorization: headers["authorization"]!, "X-Amz-Date": headers["x-amz-date"]! };
  const token = headers["x-amz-security-token"];
  if (token !== undefined) out["X-Amz-Security-Token"] = token;
  return out;
}
