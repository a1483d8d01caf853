/**
 * Placeholders in request bodies and real values in responses, for a tenant whose credentials
 * have placeholders (a tenant with none never reaches this file: forwardFrom checks first).
 *
 * Request bodies (types and encodings: body-patterns.ts) run through a windowed matcher: the
 * placeholders of credentials bound to the target that set placeholder_in_body become their
 * real values (others pass as they are), the tenant's other placeholders are forbidden. Framing, so no upstream ever gets a wrong Content-Length:
 *
 * - a body whose Content-Length is declared and at most STAGED_BODY_MAX (1 MiB) is read whole
 *   before anything is sent and goes with its exact new Content-Length; a forbidden placeholder
 *   in it is a 403 `placeholder-wrong-host` and the upstream hears nothing of the request;
 * - any other body (longer, chunked, an HTTP/2 stream without a length) streams as it comes,
 *   never waited for (a client may feed it as answers arrive): when placeholders of this host
 *   could be replaced, its Content-Length is dropped (HTTP/1.1 sends it chunked, HTTP/2 by its
 *   frames); with only forbidden ones it keeps its length (nothing in it changes). A forbidden
 *   placeholder found mid-stream resets the upstream request before the bytes that hold it are
 *   written, and the client gets the 403 if no response head has reached it yet (else its
 *   response is cut off).
 *
 * Responses from a host the request had placeholder credentials for (only there was a real
 * value ever sent) get each real value in a header, or in a text or JSON body, replaced by its
 * placeholder; a body with a known length within the bound is read whole and sent with its new
 * Content-Length, any other streams without one. Requests to such a host ask for identity
 * encoding, since a compressed response (which an upstream may still send) is not scrubbed.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import type { Tenant } from "../config/proxy-config.ts";
import type { HeaderList } from "../forward-headers.ts";
import { hostPatternMatches, type HostTarget } from "../host-pattern.ts";
import { bodyKind, headerScrubPatterns, requestPatterns, responsePatterns, type ForbiddenPlaceholder, type PlaceholderSwap } from "../placeholders/body-patterns.ts";
import { STAGED_BODY_MAX, stageBody } from "../placeholders/stage-body.ts";
import { tenantPlaceholders, type TenantPlaceholder } from "../placeholders/tenant-placeholders.ts";
import { replaceAll, windowTransform, ForbiddenPattern } from "../placeholders/window-matcher.ts";
import type { Refusal } from "../refusal.ts";
import type { ClientSide } from "./client-side.ts";
import { credentialValues } from "./credential-injections.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import type { UpstreamExchange } from "./upstream-exchange.ts";

/** The tenant's placeholders as one request sees them. */
export interface PlaceholderSides {
  /** Bound to the target (and allowed over this transport): their real values are scrubbed from responses. */
  readonly own: readonly PlaceholderSwap[];
  /** Those of `own` whose credential sets placeholder_in_body: replaced by their real values in request bodies. */
  readonly inBody: readonly PlaceholderSwap[];
  /** Bound elsewhere (or bound here but kept inside TLS, on plain http://): a body holding one is refused. */
  readonly forbidden: readonly ForbiddenPlaceholder[];
}

export type BodyPlan =
  | { readonly kind: "as-is" }
  | { readonly kind: "whole"; readonly body: Buffer }
  | { readonly kind: "stream"; readonly head: readonly Buffer[]; readonly rest: Readable; readonly resized: boolean }
  | { readonly kind: "refused"; readonly refusal: Refusal };

export const AS_IS: Extract<BodyPlan, { kind: "as-is" }> = { kind: "as-is" };

/** The body step of a request: the placeholders as it sees them (undefined: none) and its plan; or the refusal to answer. */
export type BodyStep = { readonly sides: PlaceholderSides | undefined; readonly plan: Exclude<BodyPlan, { kind: "refused" }> } | { readonly refusal: Refusal };

/** For a tenant with no placeholders: nothing to read or scrub. */
export const NO_BODY_STEP: BodyStep = { sides: undefined, plan: AS_IS };

export interface BodyRequest {
  readonly tenant: Tenant;
  readonly target: HostTarget;
  readonly plaintext: boolean;
  /** The request's headers as they go on (after the header step). */
  readonly headers: HeaderList;
}

/** Call only when tenantPlaceholders(tenant) is not empty. */
export async function placeholderBodyStep(runtime: ProxyRuntime, client: ClientSide, request: BodyRequest): Promise<BodyStep> {
  const sides = await placeholderSides(runtime, request.tenant, request.target, request.plaintext);
  if ("refusal" in sides) return sides;
  const plan = await planRequestBody(client, sides, request.headers);
  return plan.kind === "refused" ? { refusal: plan.refusal } : { sides, plan };
}

export async function placeholderSides(runtime: ProxyRuntime, tenant: Tenant, target: HostTarget, plaintext: boolean): Promise<PlaceholderSides | { refusal: Refusal }> {
  const own: TenantPlaceholder[] = [];
  const forbidden: ForbiddenPlaceholder[] = [];
  for (const entry of tenantPlaceholders(tenant)) {
    const { credential, placeholder } = entry;
    const bound = credential.hosts.some((p) => hostPatternMatches(p, target));
    if (!bound) forbidden.push({ placeholder, reason: WRONG_HOST.code });
    else if (plaintext && !credential.allowPlaintext) forbidden.push({ placeholder, reason: PLAINTEXT.code });
    else own.push(entry);
  }
  const values = await credentialValues(runtime, own.map((o) => o.credential));
  if ("refusal" in values) return values;
  const swaps = own.map((o, i) => ({ placeholder: o.placeholder, real: values[i]!.value }));
  return { own: swaps, inBody: swaps.filter((_, i) => own[i]!.credential.placeholderInBody), forbidden };
}

/** Reads ahead what must be read before the request can go: a body with a declared length within the bound (see the file's comment). */
export async function planRequestBody(client: ClientSide, sides: PlaceholderSides, headers: HeaderList): Promise<BodyPlan> {
  if (!hasBody(client, headers)) return AS_IS;
  const patterns = requestPatterns(bodyKind(valueOf(headers, "content-type"), valueOf(headers, "content-encoding")), sides.inBody, sides.forbidden);
  if (patterns.length === 0) return AS_IS;
  const rewritten = windowTransform(patterns);
  client.onGone(() => rewritten.destroy());
  client.pipeBody(rewritten);
  const resized = patterns.some((p) => p.to !== undefined);
  const declared = client.bodyLength ?? Number(valueOf(headers, "content-length") ?? NaN);
  if (!(declared <= STAGED_BODY_MAX)) {
    // No length up front (chunked, or HTTP/2 frames): it may be a stream the client feeds as answers come, so it is never waited for.
    rewritten.on("error", () => {}); // heard by sendPlannedBody through `errored` and its own listener
    return { kind: "stream", head: [], rest: rewritten, resized };
  }
  const staged = await stageBody(rewritten);
  switch (staged.kind) {
    case "whole":
      return staged;
    case "stream":
      return { ...staged, resized };
    case "forbidden":
      return { kind: "refused", refusal: bodyRefusal(staged.reason) };
    case "aborted":
      return { kind: "refused", refusal: { status: 400, code: "client-closed", message: "the client went away while sending the body." } };
  }
}

/**
 * The headers and body length the upstream request goes with: `plannedFraming`'s, and, where
 * responses are scrubbed, a request for them uncompressed (a compressed one could not be).
 */
export function placeholderRequestHeaders(step: Exclude<BodyStep, { refusal: Refusal }>, headers: OutgoingHttpHeaders, bodyLength: number | undefined): { headers: OutgoingHttpHeaders; bodyLength: number | undefined } {
  const framed = plannedFraming(step.plan, headers, bodyLength);
  if (!step.sides || step.sides.own.length === 0) return framed;
  return { headers: { ...framed.headers, "accept-encoding": "identity" }, bodyLength: framed.bodyLength };
}

/** The headers and body length a body plan needs. */
export function plannedFraming(plan: BodyPlan, headers: OutgoingHttpHeaders, bodyLength: number | undefined): { headers: OutgoingHttpHeaders; bodyLength: number | undefined } {
  if (plan.kind === "whole") {
    // An HTTP/2 request that turned out to have no body goes without a length it never had.
    if (plan.body.length === 0 && headers["content-length"] === undefined) return { headers, bodyLength: 0 };
    return { headers: { ...headers, "content-length": String(plan.body.length) }, bodyLength: plan.body.length };
  }
  if (plan.kind === "stream" && plan.resized) {
    // Said outright: node:http would not chunk a GET or DELETE body by itself (HTTP/2 drops it: its frames say where the body ends).
    const { "content-length": _dropped, ...rest } = headers;
    return { headers: { ...rest, "transfer-encoding": "chunked" }, bodyLength: undefined };
  }
  return { headers, bodyLength };
}

/** Sends a whole or streamed plan; `forbidden` gets the refusal (and the upstream is reset) when a forbidden placeholder turns up mid-stream. */
export function sendPlannedBody(plan: Extract<BodyPlan, { kind: "whole" | "stream" }>, call: UpstreamExchange, forbidden: (refusal: Refusal) => void): void {
  if (plan.kind === "whole") return void call.body.end(plan.body);
  const fail = (error: unknown) => {
    if (error instanceof ForbiddenPattern) forbidden(midStream(bodyRefusal(error.pattern.reason)));
    call.abort(); // the bytes that held it were never written
  };
  for (const chunk of plan.head) call.body.write(chunk);
  if (plan.rest.errored) return fail(plan.rest.errored);
  plan.rest.once("error", fail);
  plan.rest.pipe(call.body);
}

/** The response as the client gets it, real values replaced; "failed" when its body failed while being read. */
export async function scrubResponse(own: readonly PlaceholderSwap[], method: string, status: number, head: [string, string][], body: Readable): Promise<{ head: [string, string][]; body: Readable } | "failed"> {
  const headerPatterns = headerScrubPatterns(own);
  if (headerPatterns.length === 0) return { head, body };
  const scrubbed = head.map(([name, value]): [string, string] => [name, replaceAll(Buffer.from(value, "latin1"), headerPatterns)!.toString("latin1")]);
  const bodiless = method === "HEAD" || status === 204 || status === 304 || status < 200;
  const patterns = bodiless ? [] : responsePatterns(bodyKind(valueOf(scrubbed, "content-type"), valueOf(scrubbed, "content-encoding")), own);
  if (patterns.length === 0) return { head: scrubbed, body };
  const rewritten = windowTransform(patterns);
  body.once("error", (error) => rewritten.destroy(error));
  body.pipe(rewritten);
  const unsized = scrubbed.filter(([name]) => name.toLowerCase() !== "content-length");
  const length = Number(valueOf(scrubbed, "content-length") ?? NaN);
  // Unknown length (an event stream, say) or a large body: sent as it comes, without a length.
  if (!(length <= STAGED_BODY_MAX)) return { head: unsized, body: rewritten };
  const staged = await stageBody(rewritten, STAGED_BODY_MAX);
  if (staged.kind !== "whole") return "failed";
  return { head: [...unsized, ["content-length", String(staged.body.length)]], body: Readable.from([staged.body]) };
}

/** Whether a body may follow the head: a length known to the proxy's own reader, else the client's framing headers (HTTP/2 frames it without). */
function hasBody(client: ClientSide, headers: HeaderList): boolean {
  if (client.bodyLength !== undefined) return client.bodyLength > 0;
  if (client.httpVersionMajor === 2) return true;
  if (valueOf(headers, "transfer-encoding") !== undefined) return true;
  const length = valueOf(headers, "content-length");
  return length !== undefined && length !== "0";
}

function valueOf(headers: HeaderList, name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

/** The refusal of a body already partly sent: the upstream got its start, then a reset. */
function midStream(refusal: Refusal): Refusal {
  return { ...refusal, message: `${refusal.message} (The start of the body had been sent; the upstream request was reset before the placeholder.)` };
}

function bodyRefusal(reason: string | undefined): Refusal {
  return reason === PLAINTEXT.code ? PLAINTEXT : WRONG_HOST;
}

const WRONG_HOST: Refusal = {
  status: 403,
  code: "placeholder-wrong-host",
  message: "credproxy refused the request: its body holds the placeholder of a credential bound to another host. A placeholder stands for its credential only at that credential's hosts; send it there, or remove it from the body.",
};

const PLAINTEXT: Refusal = {
  status: 403,
  code: "placeholder-plaintext",
  message: "credproxy refused the request: its body holds the placeholder of a credential that is sent only inside TLS, and this request is plain http://. Use https://, or set allow_plaintext: true on the credential.",
};
