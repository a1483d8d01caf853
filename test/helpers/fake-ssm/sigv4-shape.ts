/**
 * The fake checks that requests are SigV4-signed, not that the signature is right: it has no
 * secret key to check against, and the shape alone catches a client that forgot to sign or
 * signed for the wrong service (ssm vs ssmmessages, ssm-tunnel-2.md §1.2).
 */
const SHAPE =
  /^AWS4-HMAC-SHA256 Credential=[A-Z0-9]{16,128}\/\d{8}\/[a-z0-9-]+\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/;

/** Why `authorization` is not a SigV4 header for `service` (lowercase words), or undefined when it is. */
export function sigV4ShapeProblem(authorization: string | null, amzDate: string | null, service: string): string | undefined {
  if (authorization === null || authorization === "") return "no Authorization header";
  const match = SHAPE.exec(authorization);
  if (match === null) return "Authorization is not AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…";
  if (match[1] !== service) return `signed for service ${match[1]}, expected ${service}`;
  if (!(match[2] ?? "").split(";").includes("host")) return "host is not a signed header";
  if (amzDate === null || !/^\d{8}T\d{6}Z$/.test(amzDate)) return "no X-Amz-Date header";
  return undefined;
}
