/**
 * What kind of AWS signature a request carries, decided from its head alone before anything
 * is forwarded to a host an `aws:` credential is bound to. Only two shapes can be re-signed
 * with the role's credentials: the header form (Authorization: AWS4-HMAC-SHA256) whose payload
 * is a hash, UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, chunk-signed
 * (STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk is signed again as it streams) or not
 * declared (the body is hashed then). Everything else a sandbox could send is refused with a reason it can act on:
 * a presigned query (even beside a junk Authorization, which would otherwise hide it), SigV4A,
 * chunk-signed uploads with a signed trailer, event streams, SigV2, a signed header its own
 * Connection header would drop, and heads we cannot read unambiguously.
 */
import type { HeaderList } from "../forward-headers.ts";
import type { Refusal } from "../refusal.ts";

/** How the client declared the payload (x-amz-content-sha256); "body" = not declared, so the body must be hashed. */
export type PayloadMode = "hash" | "unsigned" | "unsigned-trailer" | "chunk-signed" | "body";

export interface HeaderSignedRequest {
  readonly kind: "sigv4";
  readonly keyId: string;
  /** The scope's date (YYYYMMDD), region and service, kept when re-signing. */
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  /** SignedHeaders, lower-cased, as the client listed them. */
  readonly signedHeaders: readonly string[];
  readonly payload: PayloadMode;
}

export type SigV4Shape = { readonly kind: "unsigned" } | HeaderSignedRequest | { readonly kind: "refused"; readonly refusal: Refusal };

const HEX_SHA256 = /^[0-9a-f]{64}$/;
/** Query parameters only a presigned URL carries (a session token there would carry the placeholder on, unsigned). */
const PRESIGN_PARAMS = new Set(["x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-security-token", "awsaccesskeyid"]);
/** Chunk-signed with a signed trailer, or event streams: chains credproxy does not re-sign. */
const CHUNK_SIGNED_OTHER = /^STREAMING-AWS4-HMAC-SHA256-(PAYLOAD-TRAILER|EVENTS)$/;

/** `target` is the request target as sent (origin-form path and query). */
export function classifySigV4(headers: HeaderList, target: string): SigV4Shape {
  if (presignedQuery(target)) return refused("aws-presigned", PRESIGNED);
  const auth = values(headers, "authorization");
  const sha = values(headers, "x-amz-content-sha256");
  if (auth.length === 0) return { kind: "unsigned" };
  if (auth.length > 1 || sha.length > 1) return refused("aws-ambiguous", "credproxy refused the request: it carries more than one Authorization or x-amz-content-sha256 header, so its signature cannot be read unambiguously.");
  const authorization = auth[0]!.trim();
  const scheme = authorization.split(" ", 1)[0]!;
  if (scheme === "AWS4-ECDSA-P256-SHA256" || values(headers, "x-amz-region-set").length > 0) return refused("aws-sigv4a", SIGV4A);
  if (scheme === "AWS") return refused("aws-sigv2", "credproxy refused the request: it is signed with Signature Version 2, which credproxy does not re-sign; use a current SDK or CLI (they sign with SigV4).");
  if (scheme !== "AWS4-HMAC-SHA256") return { kind: "unsigned" }; // not an AWS signature: nothing to re-sign, forwarded as it is
  const parsed = parseAuthorization(authorization.slice(scheme.length));
  if (!parsed) return refused("aws-malformed", "credproxy refused the request: its AWS4-HMAC-SHA256 Authorization lacks a readable Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders= or Signature=.");
  const dropped = parsed.signedHeaders.filter((name) => connectionNamed(headers).has(name));
  if (dropped.length > 0) return refused("aws-connection-signed", connectionSigned(dropped));
  const payload = payloadMode(sha[0]?.trim());
  if (typeof payload !== "string") return payload;
  return { kind: "sigv4", ...parsed, payload };
}

/**
 * Header names the client's Connection lists: a proxy drops them (RFC 9110 §7.6.1). When the
 * signature covers one, the hop-by-hop rule and the signature disagree on what the origin must
 * get, so the request is refused rather than signed without it.
 */
function connectionNamed(headers: HeaderList): Set<string> {
  const names = new Set<string>();
  for (const value of values(headers, "connection")) for (const token of value.split(",")) if (token.trim()) names.add(token.trim().toLowerCase());
  return names;
}

function connectionSigned(names: readonly string[]): string {
  return (
    `credproxy refused the request: its Connection header names ${names.join(", ")}, which its signature covers. ` +
    "A proxy drops the headers Connection names, so the request could not arrive as it was signed; do not list signed headers in Connection."
  );
}

function payloadMode(declared: string | undefined): PayloadMode | SigV4Shape {
  if (declared === undefined) return "body";
  if (HEX_SHA256.test(declared.toLowerCase())) return "hash";
  if (declared === "UNSIGNED-PAYLOAD") return "unsigned";
  if (declared === "STREAMING-UNSIGNED-PAYLOAD-TRAILER") return "unsigned-trailer";
  if (declared === "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") return "chunk-signed";
  if (CHUNK_SIGNED_OTHER.test(declared)) return refused("aws-chunk-signed", CHUNK_SIGNED_REASON);
  if (declared.startsWith("STREAMING-AWS4-ECDSA-P256-SHA256")) return refused("aws-sigv4a", SIGV4A);
  return refused("aws-malformed", "credproxy refused the request: its x-amz-content-sha256 is neither a SHA-256 hex digest nor a payload mode credproxy knows (UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER).");
}

/** `Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=a;b, Signature=hex` in any order. */
function parseAuthorization(rest: string): Omit<HeaderSignedRequest, "kind" | "payload"> | undefined {
  const parts = new Map<string, string>();
  for (const part of rest.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    if (parts.has(key)) return undefined;
    parts.set(key, part.slice(eq + 1).trim());
  }
  const scope = parts.get("Credential")?.split("/");
  const signed = parts.get("SignedHeaders");
  if (!scope || scope.length !== 5 || scope[4] !== "aws4_request" || !/^[A-Z0-9]{16,128}$/.test(scope[0]!) || !/^\d{8}$/.test(scope[1]!)) return undefined;
  if (!signed || !/^[0-9a-f]{64}$/.test(parts.get("Signature") ?? "") || !/^[a-z0-9!#$%&'*+.^_`|~-]+(;[a-z0-9!#$%&'*+.^_`|~-]+)*$/.test(signed)) return undefined;
  if (!/^[a-z0-9-]+$/.test(scope[2]!) || !/^[a-z0-9-]+$/.test(scope[3]!)) return undefined;
  return { keyId: scope[0]!, scopeDate: scope[1]!, region: scope[2]!, service: scope[3]!, signedHeaders: signed.split(";") };
}

/** Any SigV4/SigV2 query-signature parameter, however the sandbox spells or encodes its name. */
function presignedQuery(target: string): boolean {
  const q = target.indexOf("?");
  if (q < 0) return false;
  for (const pair of target.slice(q + 1).split("&")) {
    const name = pair.split("=", 1)[0]!;
    if (PRESIGN_PARAMS.has(safeDecode(name).toLowerCase())) return true;
  }
  return false;
}

export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function values(headers: HeaderList, name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

function refused(code: string, message: string): SigV4Shape {
  return { kind: "refused", refusal: { status: 403, code, message } };
}

const PRESIGNED =
  "credproxy refused the request: it is a presigned AWS URL (a signature in the query), which credproxy cannot re-sign and will not forward. " +
  "Make the call through the SDK or CLI instead (they sign headers, which credproxy re-signs), or create presigned URLs outside the sandbox.";

const SIGV4A =
  "credproxy refused the request: it is signed with SigV4A (AWS4-ECDSA-P256-SHA256), which credproxy does not re-sign. " +
  "Call a regional endpoint instead of a multi-Region access point or global endpoint, so the SDK signs with SigV4.";

const CHUNK_SIGNED_REASON =
  "credproxy refused the request: its body is chunk-signed with a signed trailer or is an event stream (x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or -EVENTS), which credproxy does not re-sign (plain STREAMING-AWS4-HMAC-SHA256-PAYLOAD it does). " +
  "Make the SDK sign the payload another way: boto3/aws CLI: leave payload_signing_enabled off (the default over https); AWS SDK for Java: chunkedEncodingEnabled(false); " +
  "AWS SDK for JavaScript: use https:// endpoints (it chunk-signs only over plain http).";
