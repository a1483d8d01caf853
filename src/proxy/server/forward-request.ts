/**
 * A request the proxy can read (inside an intercepted tunnel, or plain http://) on its way
 * upstream: checked against the tunnel's target (421), given the credentials bound to that
 * target (every client value of their headers removed first), sent to the checked address,
 * and its response streamed back as it arrives: no read-ahead, so an SSE event reaches the
 * client before the next is written. A client that goes away cancels the upstream request;
 * an upstream 401/403 makes the next use of those credentials read their sources again.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { forwardHeaders, responseHeaders, type HeaderList, type Injection } from "../forward-headers.ts";
import { upstreamFailed, type Refusal } from "../refusal.ts";
import { selectCredentials } from "../select-credentials.ts";
import type { Admitted } from "./admit.ts";
import { headerObject, nodeClientSide, type ClientSide } from "./client-side.ts";
import { canonicalHostHeader, innerTargetRefusal } from "./inner-target.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { logRequest } from "./request-log.ts";
import { awsStep, boundAwsCredentials, type AwsStep } from "./aws-signing.ts";
import { scrubbable, scrubRoleKeys, type Swaps } from "../aws/scrub-role-keys.ts";
import type { UpstreamResponse } from "./upstream-exchange.ts";
import { openUpstream } from "./upstream-exchange.ts";
import { credentialValues } from "./credential-injections.ts";
import type { UpstreamFailure } from "./upstream-request.ts";
import { NO_BODY_STEP, placeholderBodyStep, placeholderRequestHeaders, scrubResponse, sendPlannedBody } from "./placeholder-bodies.ts";
import { tenantPlaceholders } from "../placeholders/tenant-placeholders.ts";
import { placeholderStep } from "../placeholders/placeholder-step.ts";
import { substitutedRequest } from "./substituted-request.ts";

export interface Exchange {
  readonly admitted: Admitted;
  /** TLS between client and proxy (so upstream too); false for plain HTTP. */
  readonly tls: boolean;
  readonly servername: string | undefined;
  readonly mode: "intercept" | "plain";
  /** The path to ask the upstream for (origin-form). */
  readonly path: string;
}

export async function forwardRequest(runtime: ProxyRuntime, req: IncomingMessage, res: ServerResponse, exchange: Exchange): Promise<void> {
  return forwardFrom(runtime, nodeClientSide(req, res), exchange);
}

/** forwardRequest for any client side: node:http's, or the tunnel's own HTTP/1.1 connection. */
export async function forwardFrom(runtime: ProxyRuntime, client: ClientSide, exchange: Exchange): Promise<void> {
  const started = performance.now();
  const { admitted } = exchange;
  const requestId = requestIdOf(client.rawHeaders);
  const idHeader = { "x-request-id": requestId };
  const log = (status: number, extra: { bytes?: number; credentials?: readonly string[]; reason?: string } = {}) =>
    logRequest(runtime.logger, {
      requestId,
      run: admitted.tenant.name,
      mode: exchange.mode,
      method: client.method,
      host: admitted.target.authority,
      path: exchange.path,
      status,
      durationMs: performance.now() - started,
      decision: decisionName(admitted),
      ...extra,
    });
  const misdirected = innerTargetRefusal(client, admitted.target, exchange);
  if (misdirected) {
    runtime.metrics.request("refused", []);
    client.refuse(misdirected, idHeader);
    return log(misdirected.status, { reason: misdirected.code });
  }
  const method = client.method;
  const step = placeholderStep(admitted.tenant, { target: admitted.target, plaintext: !exchange.tls, path: exchange.path, rawHeaders: client.rawHeaders });
  const swapped = step.kind === "none" ? { path: exchange.path, rawHeaders: client.rawHeaders, credentials: NO_NAMES } : await substitutedRequest(runtime, step, { path: exchange.path, rawHeaders: client.rawHeaders });
  if ("refusal" in swapped) {
    if (swapped.refusal.code === "credential-unavailable") runtime.metrics.upstreamError("credential");
    else runtime.metrics.request("refused", []);
    client.refuse(swapped.refusal, idHeader);
    return log(swapped.refusal.status, { credentials: swapped.credentials, reason: swapped.refusal.code });
  }
  const { path, rawHeaders } = swapped;
  const bound = boundAwsCredentials(admitted.tenant, admitted.target);
  const aws: AwsStep =
    bound.length === 0
      ? NO_AWS
      : await awsStep(runtime, bound, () => bodyStream(client), { tenant: admitted.tenant, target: admitted.target, plaintext: !exchange.tls, method, path, headers: pairs(rawHeaders) });
  if (aws.kind === "refused") {
    if (aws.refusal.code === "credential-unavailable") runtime.metrics.upstreamError("credential");
    else runtime.metrics.request("refused", []);
    client.refuse(aws.refusal, idHeader);
    return log(aws.refusal.status, { credentials: aws.credential === undefined ? [] : [aws.credential], reason: aws.refusal.code });
  }
  // A re-signed request carries the signature alone: a header set after signing could break it.
  const credentials = aws.kind === "signed" ? [] : selectCredentials(admitted.tenant.credentials, { host: admitted.target.host, port: admitted.target.port, plaintext: !exchange.tls });
  const injections = await credentialValues(runtime, credentials);
  const names = aws.kind === "signed" ? [aws.credential] : [...swapped.credentials, ...credentials.map((c) => c.name)];
  if ("refusal" in injections) {
    runtime.metrics.upstreamError("credential");
    client.refuse(injections.refusal, idHeader);
    return log(502, { credentials: names, reason: "credential-unavailable" });
  }
  // A tenant with no placeholders skips this outright (no await): its bodies are never read ahead.
  const bodies = aws.kind === "signed" || tenantPlaceholders(admitted.tenant).length === 0 ? NO_BODY_STEP : await placeholderBodyStep(runtime, client, { tenant: admitted.tenant, target: admitted.target, plaintext: !exchange.tls, headers: pairs(rawHeaders) });
  if ("refusal" in bodies) {
    if (bodies.refusal.code === "credential-unavailable") runtime.metrics.upstreamError("credential");
    else runtime.metrics.request("refused", names);
    client.refuse(bodies.refusal, idHeader);
    return log(bodies.refusal.status, { credentials: names, reason: bodies.refusal.code });
  }
  const { sides, plan } = bodies;
  const unsigned = { ...upstreamHeaders(rawHeaders, injections, canonicalHostHeader(admitted.target, exchange.tls)), ...idHeader };
  const signed = aws.kind === "signed" ? await aws.sign(unsigned) : undefined;
  const headers = signed?.headers ?? unsigned;
  const framed = bodies === NO_BODY_STEP ? undefined : placeholderRequestHeaders(bodies, headers, client.bodyLength);
  const call = await openUpstream(runtime, admitted, { tls: exchange.tls, method, path, headers: framed?.headers ?? keepChunked(headers, rawHeaders, client), bodyLength: framed ? framed.bodyLength : client.bodyLength });
  if (client.gone) {
    call.abort(); // the client left while the upstream connection was being opened
    return log(499, { credentials: names, reason: "client-closed" });
  }
  client.onGone(() => call.abort());
  let bodyRefusal: Refusal | undefined;
  if (plan.kind !== "as-is") sendPlannedBody(plan, call, (refusal) => (bodyRefusal = refusal));
  else if (aws.kind === "signed" && aws.body !== undefined) call.body.end(aws.body);
  else if (signed?.chunks) {
    signed.chunks.once("error", () => {
      bodyRefusal = MALFORMED_CHUNKS;
      call.abort(); // not aws-chunked after all: the upstream must not get a half-signed body
    });
    client.pipeBody(signed.chunks);
    signed.chunks.pipe(call.body);
  } else client.pipeBody(call.body);
  const upstream = await call.response;
  if ("kind" in upstream && bodyRefusal) {
    runtime.metrics.request("refused", names);
    client.refuse(bodyRefusal, idHeader);
    return log(bodyRefusal.status, { credentials: names, reason: bodyRefusal.code });
  }
  if ("kind" in upstream) {
    runtime.metrics.upstreamError(upstream.kind);
    runtime.metrics.request("allowed", names);
    runtime.logger.debug("upstream failed", { host: admitted.target.authority, kind: upstream.kind, error: upstream.error.message });
    client.refuse(failureRefusal(admitted, upstream), idHeader);
    return log(upstream.kind === "timeout" ? 504 : 502, { credentials: names, reason: `upstream-${upstream.kind}` });
  }
  runtime.metrics.request(admitted.decision.wouldDeny ? "would_deny" : "allowed", names);
  const status = upstream.status;
  if (status === 401 || status === 403) for (const c of step.kind === "substitute" ? [...step.credentials, ...credentials] : credentials) runtime.values.refresh(c);
  const head = responseHeaders(upstream.headers);
  // The upstream's own X-Request-Id, when it sends one, is what the client sees.
  if (!head.some(([name]) => name === "x-request-id")) head.push(["x-request-id", requestId]);
  upstream.body.once("error", () => client.abort());
  if (aws.kind === "signed" && scrubbable(method, status, headerObject(head))) {
    const scrubbed = await sendScrubbed(client, upstream, head, aws.swaps);
    return log(status, { bytes: scrubbed, credentials: names });
  }
  const scrubbed = sides && sides.own.length > 0 ? await scrubResponse(sides.own, method, status, head, upstream.body) : undefined;
  if (scrubbed === "failed") {
    client.abort(); // the upstream failed while its body was read to be scrubbed
    return log(502, { credentials: names, reason: "upstream-reset" });
  }
  const bytes = await client.respond(status, upstream.statusMessage, scrubbed?.head ?? head, scrubbed?.body ?? upstream.body);
  log(status, { bytes, credentials: names });
}

const NO_AWS: AwsStep = { kind: "none" };
const NO_NAMES: readonly string[] = [];

const MALFORMED_CHUNKS: Refusal = {
  status: 400,
  code: "aws-chunked-malformed",
  message: "credproxy refused the request: it declares a chunk-signed body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), but the body is not aws-chunked, so its chunks cannot be signed again.",
};

/** An AWS error body, read whole (it is small) and given back without the role's key id or token; resolves with its length. */
async function sendScrubbed(client: ClientSide, upstream: UpstreamResponse, head: HeaderList, swaps: Swaps): Promise<number> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) chunks.push(chunk);
  } catch {
    client.abort();
    return 0;
  }
  const body = scrubRoleKeys(Buffer.concat(chunks), swaps);
  const sized = head.filter(([name]) => name !== "content-length" && name !== "transfer-encoding");
  sized.push(["content-length", String(body.length)]);
  return client.respond(upstream.status, upstream.statusMessage, sized, Readable.from([body]));
}

/** The client's request body as a stream of its own, closed when the client goes. */
function bodyStream(client: ClientSide): Readable {
  const body = new PassThrough();
  client.onGone(() => body.destroy());
  client.pipeBody(body);
  return body;
}

/** The client's X-Request-Id when it is a sane token, else a new one; sent upstream, returned, logged. */
function requestIdOf(raw: readonly string[]): string {
  const given: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.length === 12 && raw[i]!.toLowerCase() === "x-request-id") given.push(raw[i + 1]!);
  // Repeated, the values join into one with ", ", which is not a sane token (as node:http's req.headers had it).
  const value = given.join(", ");
  return /^[A-Za-z0-9._:@\/+=-]{1,128}$/.test(value) ? value : randomUUID();
}

/** The client's headers as the upstream gets them; Host is the canonical target. */
export function upstreamHeaders(raw: readonly string[], injections: readonly Injection[], host: string, options: { upgrade?: boolean } = {}): OutgoingHttpHeaders {
  // HTTP/2 pseudo-headers (:method, :authority…) are the request line, not headers.
  const list = forwardHeaders(pairs(raw).filter(([name]) => !name.startsWith(":")), injections, options).filter(([name]) => name !== "host");
  return { host, ...headerObject(list) };
}

/**
 * A body the client sent chunked goes upstream chunked, said outright: Transfer-Encoding is
 * hop-by-hop, so it was dropped with the rest, and node:http chunks a body by itself only for
 * methods it expects one with; a DELETE or GET body would go unframed, and the upstream would
 * read it as the start of the next request on that connection. (HTTP/2 upstreams drop the
 * header: their frames say where a body ends.)
 */
function keepChunked(headers: OutgoingHttpHeaders, rawHeaders: readonly string[], client: ClientSide): OutgoingHttpHeaders {
  if (client.bodyLength !== undefined || headers["content-length"] !== undefined || headers["transfer-encoding"] !== undefined) return headers;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "transfer-encoding") return { ...headers, "transfer-encoding": "chunked" };
  }
  return headers;
}

export function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

export function failureRefusal(admitted: Admitted, failure: UpstreamFailure): Refusal {
  if (failure.kind === "tls") {
    return {
      status: 502,
      code: "upstream-certificate",
      message: `credproxy did not trust the certificate of ${admitted.target.authority}. If it is an internal host, add its CA to tls.upstream_ca_bundle.`,
    };
  }
  return upstreamFailed(admitted.target.authority, failure.kind === "timeout");
}

export function decisionName(admitted: Admitted): string {
  return admitted.decision.wouldDeny ? `would-deny:${admitted.decision.wouldDeny.code}` : admitted.decision.by;
}
