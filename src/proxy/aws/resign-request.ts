/**
 * Signs a header-signed AWS request again, with the role's credentials instead of the
 * placeholders it was signed with, by @smithy/signature-v4 (the SDK's own signer). What the
 * client chose is kept: the region and service of its credential scope, its date (unless it
 * is more than AWS's 15 minutes off), its payload
 * mode (a declared hash, UNSIGNED-PAYLOAD or the unsigned trailer stays in x-amz-content-sha256)
 * and the headers it signed, minus those that only concern a hop (already gone) and
 * X-Forwarded-* / Forwarded / Via, which a later hop may rewrite. S3 signs the path as sent
 * (dot segments and doubled slashes kept; s3CanonicalPath); every other service signs it
 * normalised (dot segments and empty segments removed, then encoded once more), which is what
 * the signer does for uriEscapePath. The target itself is forwarded byte for byte.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentials } from "../../credentials/types.ts";
import type { ChunkSigner } from "./chunk-signatures.ts";
import { Sha256 } from "./sha256.ts";
import { safeDecode, type HeaderSignedRequest } from "./sigv4-shape.ts";

export interface ResignInput {
  readonly method: string;
  /** The request target as sent (origin-form), forwarded unchanged. */
  readonly target: string;
  /** The headers as they go upstream: lower-case names, `host` the canonical target. */
  readonly headers: OutgoingHttpHeaders;
  readonly shape: HeaderSignedRequest;
  readonly credentials: AwsCredentials;
  /** The whole body, when the client declared no payload hash (shape.payload "body"). */
  readonly body?: Uint8Array | undefined;
  readonly now?: Date | undefined;
}

/** The client's signature headers: gone, and written by the signer (the token is the role's). */
const GENERATED = ["authorization", "x-amz-date", "x-amz-security-token"];
const NEVER_SIGNED = /^(x-forwarded-.*|forwarded|via)$/;

/** The upstream headers with the client's signature replaced by one made with `credentials`. */
export async function resignRequest(input: ResignInput): Promise<OutgoingHttpHeaders> {
  const { shape } = input;
  const now = input.now ?? new Date();
  const out: OutgoingHttpHeaders = { ...input.headers };
  for (const name of GENERATED) delete out[name];
  // the signer drops Date from what it signs (it writes X-Amz-Date), so the set matches what it does
  const wanted = new Set([...shape.signedHeaders, "host", "x-amz-content-sha256"].filter((n) => !NEVER_SIGNED.test(n) && n !== "date" && !GENERATED.includes(n)));
  const toSign: Record<string, string> = {};
  for (const name of wanted) {
    const value = out[name];
    if (value !== undefined) toSign[name] = Array.isArray(value) ? value.join(",") : String(value);
  }
  const [rawPath, rawQuery] = splitTarget(input.target);
  const path = shape.service === "s3" ? s3CanonicalPath(rawPath) : rawPath;
  const signed = await signerFor(shape, input.credentials).sign(
    { method: input.method, protocol: "https:", hostname: hostnameOf(toSign.host ?? ""), path, query: queryOf(rawQuery), headers: toSign, body: input.body },
    { signingDate: signingDate(input.headers["x-amz-date"], shape.scopeDate, now) ?? now, signableHeaders: new Set(Object.keys(toSign)) },
  );
  for (const name of GENERATED) {
    const value = signed.headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * The chunk signatures of a chunk-signed body, chained from the re-signed header's signature
 * and made at its X-Amz-Date (chunk-signatures.ts streams the body through it).
 */
export function chunkSignerFor(shape: HeaderSignedRequest, credentials: AwsCredentials, signedHeaders: OutgoingHttpHeaders): { seed: string; sign: ChunkSigner } {
  const seed = /Signature=([0-9a-f]{64})/.exec(String(signedHeaders.authorization))?.[1];
  // our own X-Amz-Date: the day of the scope we signed, which is not the client's when its date was off
  const date = signingDate(signedHeaders["x-amz-date"], undefined, undefined);
  if (seed === undefined || date === undefined) throw new Error("the re-signed head lacks its signature or date");
  const signer = signerFor(shape, credentials);
  const empty = new Uint8Array(0); // a chunk's "headers" are empty: their hash is the empty string's
  return {
    seed,
    sign: (previous, data) => signer.sign({ headers: empty, payload: data }, { signingDate: date, priorSignature: previous, signingRegion: shape.region, signingService: shape.service }),
  };
}

function signerFor(shape: HeaderSignedRequest, credentials: AwsCredentials): SignatureV4 {
  return new SignatureV4({
    credentials: identity(credentials),
    region: shape.region,
    service: shape.service,
    sha256: Sha256,
    uriEscapePath: shape.service !== "s3",
    applyChecksum: false,
  });
}

function identity(c: AwsCredentials): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  return c.sessionToken === undefined ? { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } : { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken };
}

/**
 * The path S3 signs, from the path as sent: every segment decoded and encoded once the SigV4 way
 * (A-Z a-z 0-9 - . _ ~ kept, all else %XX in capitals, "/" kept), with dot segments and doubled
 * slashes left as they are (S3 normalises nothing). For what an SDK sends this is the path
 * itself; a spelling no SDK makes (%41, %2f, %2F) gets the signature S3 computes for the bytes
 * forwarded. A segment that does not decode (%zz) is signed as sent, and S3 refuses it.
 */
export function s3CanonicalPath(raw: string): string {
  return raw
    .split("/")
    .map((segment) => {
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        return segment;
      }
      return encodeURIComponent(decoded).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replaceAll("%2F", "/");
    })
    .join("/");
}

function splitTarget(target: string): [string, string] {
  const q = target.indexOf("?");
  return q < 0 ? [target, ""] : [target.slice(0, q), target.slice(q + 1)];
}

/** The signer takes decoded names and values and encodes them canonically itself. */
function queryOf(raw: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const pair of raw.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = safeDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : safeDecode(pair.slice(eq + 1));
    const current = query[name];
    query[name] = current === undefined ? value : Array.isArray(current) ? [...current, value] : [current, value];
  }
  return query;
}

function hostnameOf(host: string): string {
  return host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
}

/** AWS refuses a request dated further than this from its clock (RequestTimeTooSkewed). */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

/**
 * The client's X-Amz-Date when it lies in its scope's day (so scope and date agree) and within
 * AWS's 15 minutes of `now` (when given); else undefined, and the request is signed for now.
 * A far-off date is never signed with the role's keys: a request dated hours ahead would stay
 * replayable for as long as the role's credentials live, and a sandbox with a wrong clock works.
 */
function signingDate(header: OutgoingHttpHeaders[string], scopeDate: string | undefined, now: Date | undefined): Date | undefined {
  const text = typeof header === "string" ? header : undefined;
  const m = text === undefined ? null : /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m || (scopeDate !== undefined && `${m[1]}${m[2]}${m[3]}` !== scopeDate)) return undefined;
  const date = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  if (now !== undefined && Math.abs(date.getTime() - now.getTime()) > MAX_CLOCK_SKEW_MS) return undefined;
  return date;
}
