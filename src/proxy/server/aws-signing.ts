/**
 * The AWS step of a forwarded request, before anything leaves: at a host an `aws:` credential
 * is bound to, a request's signature shape is classified (sigv4-shape.ts); refused shapes get
 * their reason, the placeholder key id picks the credential, and the request is signed again
 * with the role's current credentials. A body is read only when the client declared no payload
 * hash (small API calls, not uploads), up to a limit; every other body streams untouched.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { awsPlaceholders } from "../aws/aws-placeholders.ts";
import { pickAwsCredential } from "../aws/pick-aws-credential.ts";
import type { Readable, Transform } from "node:stream";
import { chunkResigner } from "../aws/chunk-signatures.ts";
import { chunkSignerFor, resignRequest } from "../aws/resign-request.ts";
import type { Swaps } from "../aws/scrub-role-keys.ts";
import { classifySigV4 } from "../aws/sigv4-shape.ts";
import type { AwsCredentialSpec, Tenant } from "../config/proxy-config.ts";
import { hostPatternMatches, type HostTarget } from "../host-pattern.ts";
import type { HeaderList } from "../forward-headers.ts";
import type { Refusal } from "../refusal.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";

/** The most a request without a declared payload hash may carry: it is held in memory to be hashed. */
export const AWS_HASHED_BODY_MAX = 16 * 1024 * 1024;

export type AwsStep =
  | { readonly kind: "none" }
  | { readonly kind: "refused"; readonly refusal: Refusal; readonly credential?: string | undefined }
  | {
      readonly kind: "signed";
      readonly credential: string;
      /** The body read to hash it, to send instead of streaming the request. */
      readonly body: Buffer | undefined;
      /** The role's key id and token with the placeholders that replace them in error bodies. */
      readonly swaps: Swaps;
      /** The headers signed again; for a chunk-signed body also the transform that signs its chunks again. */
      sign(headers: OutgoingHttpHeaders): Promise<{ headers: OutgoingHttpHeaders; chunks?: Transform | undefined }>;
    };

export interface AwsRequest {
  readonly tenant: Tenant;
  readonly target: HostTarget;
  readonly plaintext: boolean;
  readonly method: string;
  /** Origin-form target as sent. */
  readonly path: string;
  /** The client's headers as sent. */
  readonly headers: HeaderList;
}

/**
 * `bound` is boundAwsCredentials() of the request's tenant and target, not empty (the caller
 * skips this step, and its await, for every other host); `body` opens the request body and is
 * called only when the signature covers a hash of it.
 */
export async function awsStep(runtime: ProxyRuntime, bound: readonly AwsCredentialSpec[], body: () => Readable, request: AwsRequest): Promise<AwsStep> {
  const shape = classifySigV4(request.headers, request.path);
  if (shape.kind === "unsigned") return { kind: "none" };
  if (shape.kind === "refused") return shape;
  // Signed with keys the container endpoint gave this run: its own role's, nothing to re-sign.
  if (runtime.aws.served.has(request.tenant.name, shape.keyId)) return { kind: "none" };
  const picked = pickAwsCredential(
    shape.keyId,
    bound.map((c) => ({ credential: c, name: c.name, placeholderKeyId: placeholderKeyId(request.tenant, c), realKeyIds: runtime.aws.realKeyIds(request.tenant, c) })),
  );
  if ("refusal" in picked) return { kind: "refused", refusal: picked.refusal };
  const spec = picked.credential;
  if (request.plaintext && !spec.allowPlaintext) return { kind: "refused", refusal: PLAINTEXT, credential: spec.name };
  const credentials = await runtime.aws.credentials(request.tenant, spec).catch((error: unknown) => {
    runtime.logger.error("aws credential unavailable", { credential: spec.name, error });
    return undefined;
  });
  if (!credentials) return { kind: "refused", refusal: UNAVAILABLE, credential: spec.name };
  const read = shape.payload === "body" ? await readBody(body(), AWS_HASHED_BODY_MAX) : undefined;
  if (read === "too-large") return { kind: "refused", refusal: TOO_LARGE, credential: spec.name };
  if (read === "aborted") return { kind: "refused", refusal: { status: 400, code: "client-closed", message: "the client went away while sending the body." }, credential: spec.name };
  return {
    kind: "signed",
    credential: spec.name,
    body: read,
    swaps: swapsFor(request.tenant, spec, credentials),
    sign: async (headers) => {
      const signed = await resignRequest({ method: request.method, target: request.path, headers, shape, credentials, body: read });
      if (shape.payload !== "chunk-signed") return { headers: signed };
      const chunks = chunkSignerFor(shape, credentials, signed);
      return { headers: signed, chunks: chunkResigner(chunks.seed, chunks.sign) };
    },
  };
}

/** Whether a WebSocket upgrade to this host carries an AWS signature (never relayed: it could not be re-signed). */
export function awsSignedUpgrade(headers: HeaderList, tenant: Tenant, target: HostTarget, path: string): Refusal | undefined {
  if (boundAwsCredentials(tenant, target).length === 0 || classifySigV4(headers, path).kind === "unsigned") return undefined;
  return { status: 403, code: "aws-upgrade", message: "credproxy refused the request: it is an AWS-signed WebSocket upgrade (or presigned URL), which credproxy cannot re-sign." };
}

/** The tenant's aws: credentials whose hosts match the target. */
export function boundAwsCredentials(tenant: Tenant, target: HostTarget): AwsCredentialSpec[] {
  return tenant.awsCredentials.filter((c) => c.hosts.some((p) => hostPatternMatches(p, target)));
}

function placeholderKeyId(tenant: Tenant, spec: AwsCredentialSpec): string {
  return awsPlaceholders({ tenant: tenant.name, token: tenant.token, credential: spec.name }).accessKeyId;
}

function swapsFor(tenant: Tenant, spec: AwsCredentialSpec, role: { accessKeyId: string; sessionToken: string }): Swaps {
  const placeholders = awsPlaceholders({ tenant: tenant.name, token: tenant.token, credential: spec.name });
  return [
    [role.accessKeyId, placeholders.accessKeyId],
    [role.sessionToken, placeholders.sessionToken],
  ];
}

/** The whole body; past `max` the rest is read and dropped, so the refusal can still be answered on this connection. */
function readBody(body: Readable, max: number): Promise<Buffer | "too-large" | "aborted"> {
  return new Promise((resolve) => {
    let chunks: Buffer[] = [];
    let size = 0;
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) chunks = [];
      else chunks.push(chunk);
    });
    body.once("end", () => resolve(size > max ? "too-large" : Buffer.concat(chunks)));
    body.once("error", () => resolve("aborted"));
    body.once("close", () => resolve("aborted")); // after "end" this changes nothing
  });
}

const PLAINTEXT: Refusal = {
  status: 403,
  code: "aws-plaintext",
  message: "credproxy refused the request: it would be re-signed with the role's credentials over plain http://. Use an https:// endpoint, or set allow_plaintext on the aws credential (a local moto or LocalStack).",
};

const UNAVAILABLE: Refusal = { status: 502, code: "credential-unavailable", message: "credproxy could not get the AWS role's credentials for this host; its log says why." };

const TOO_LARGE: Refusal = {
  status: 413,
  code: "aws-body-too-large",
  message: `credproxy refused the request: it declares no payload hash (x-amz-content-sha256), so its body must be hashed in memory, and it is larger than ${AWS_HASHED_BODY_MAX / 1048576} MiB. Send it with UNSIGNED-PAYLOAD or a hash (S3 uploads do).`,
};
