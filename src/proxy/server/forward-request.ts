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
import { finished } from "node:stream/promises";
import type { CredentialSpec } from "../config/proxy-config.ts";
import { forwardHeaders, responseHeaders, type HeaderList, type Injection } from "../forward-headers.ts";
import { upstreamFailed, type Refusal } from "../refusal.ts";
import { selectCredentials } from "../select-credentials.ts";
import type { Admitted } from "./admit.ts";
import { canonicalHostHeader, innerTargetRefusal } from "./inner-target.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { logRequest } from "./request-log.ts";
import { awsStep } from "./aws-signing.ts";
import { scrubbable, scrubRoleKeys, type Swaps } from "../aws/scrub-role-keys.ts";
import type { UpstreamResponse } from "./upstream-exchange.ts";
import { openUpstream } from "./upstream-exchange.ts";
import type { UpstreamFailure } from "./upstream-request.ts";

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
  const started = performance.now();
  const { admitted } = exchange;
  const requestId = requestIdOf(req);
  res.setHeader("x-request-id", requestId);
  const log = (status: number, extra: { bytes?: number; credentials?: readonly string[]; reason?: string } = {}) =>
    logRequest(runtime.logger, {
      requestId,
      run: admitted.tenant.name,
      mode: exchange.mode,
      method: req.method ?? "GET",
      host: admitted.target.authority,
      path: exchange.path,
      status,
      durationMs: performance.now() - started,
      decision: decisionName(admitted),
      ...extra,
    });
  const misdirected = innerTargetRefusal(req, admitted.target, exchange);
  if (misdirected) {
    runtime.metrics.request("refused", []);
    sendRefusal(res, misdirected);
    return log(misdirected.status, { reason: misdirected.code });
  }
  const method = req.method ?? "GET";
  const aws = await awsStep(runtime, req, { tenant: admitted.tenant, target: admitted.target, plaintext: !exchange.tls, method, path: exchange.path, headers: pairs(req.rawHeaders) });
  if (aws.kind === "refused") {
    if (aws.refusal.code === "credential-unavailable") runtime.metrics.upstreamError("credential");
    else runtime.metrics.request("refused", []);
    sendRefusal(res, aws.refusal);
    return log(aws.refusal.status, { credentials: aws.credential === undefined ? [] : [aws.credential], reason: aws.refusal.code });
  }
  // A re-signed request carries the signature alone: a header set after signing could break it.
  const credentials = aws.kind === "signed" ? [] : selectCredentials(admitted.tenant.credentials, { host: admitted.target.host, port: admitted.target.port, plaintext: !exchange.tls });
  const injections = await credentialValues(runtime, credentials);
  const names = aws.kind === "signed" ? [aws.credential] : credentials.map((c) => c.name);
  if ("refusal" in injections) {
    runtime.metrics.upstreamError("credential");
    sendRefusal(res, injections.refusal);
    return log(502, { credentials: names, reason: "credential-unavailable" });
  }
  const unsigned = { ...upstreamHeaders(req.rawHeaders, injections, canonicalHostHeader(admitted.target, exchange.tls)), "x-request-id": requestId };
  const signed = aws.kind === "signed" ? await aws.sign(unsigned) : undefined;
  const headers = signed?.headers ?? unsigned;
  const call = await openUpstream(runtime, admitted, { tls: exchange.tls, method, path: exchange.path, headers });
  if (res.destroyed) {
    call.abort(); // the client left while the upstream connection was being opened
    return log(499, { credentials: names, reason: "client-closed" });
  }
  res.once("close", () => {
    if (!res.writableFinished) call.abort();
  });
  let bodyRefusal: Refusal | undefined;
  if (aws.kind === "signed" && aws.body !== undefined) call.body.end(aws.body);
  else if (signed?.chunks) {
    signed.chunks.once("error", () => {
      bodyRefusal = MALFORMED_CHUNKS;
      call.abort(); // not aws-chunked after all: the upstream must not get a half-signed body
    });
    req.pipe(signed.chunks).pipe(call.body);
  } else req.pipe(call.body);
  const upstream = await call.response;
  if ("kind" in upstream && bodyRefusal) {
    runtime.metrics.request("refused", names);
    sendRefusal(res, bodyRefusal);
    return log(bodyRefusal.status, { credentials: names, reason: bodyRefusal.code });
  }
  if ("kind" in upstream) {
    runtime.metrics.upstreamError(upstream.kind);
    runtime.metrics.request("allowed", names);
    runtime.logger.debug("upstream failed", { host: admitted.target.authority, kind: upstream.kind, error: upstream.error.message });
    if (!res.headersSent && !res.destroyed) sendRefusal(res, failureRefusal(admitted, upstream));
    else res.destroy();
    return log(upstream.kind === "timeout" ? 504 : 502, { credentials: names, reason: `upstream-${upstream.kind}` });
  }
  runtime.metrics.request(admitted.decision.wouldDeny ? "would_deny" : "allowed", names);
  const status = upstream.status;
  if ((status === 401 || status === 403) && credentials.length > 0) for (const c of credentials) runtime.values.refresh(c);
  const head = headerObject(responseHeaders(upstream.headers));
  if (aws.kind === "signed" && scrubbable(method, status, head)) return sendScrubbed(res, upstream, head, aws.swaps, (bytes) => log(status, { bytes, credentials: names }));
  if (upstream.statusMessage !== undefined && req.httpVersionMajor === 1) res.writeHead(status, upstream.statusMessage, head);
  else res.writeHead(status, head);
  (res as { flushHeaders?: () => void }).flushHeaders?.();
  let bytes = 0;
  upstream.body.on("data", (chunk: Buffer) => (bytes += chunk.length));
  upstream.body.once("error", () => res.destroy());
  upstream.body.pipe(res);
  await finished(res).catch(() => {}); // resolves at once if the client has already gone
  log(status, { bytes, credentials: names });
}

const MALFORMED_CHUNKS: Refusal = {
  status: 400,
  code: "aws-chunked-malformed",
  message: "credproxy refused the request: it declares a chunk-signed body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), but the body is not aws-chunked, so its chunks cannot be signed again.",
};

/** An AWS error body, read whole (it is small) and given back without the role's key id or token. */
async function sendScrubbed(res: ServerResponse, upstream: UpstreamResponse, head: OutgoingHttpHeaders, swaps: Swaps, done: (bytes: number) => void): Promise<void> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) chunks.push(chunk);
  } catch {
    return void res.destroy();
  }
  const body = scrubRoleKeys(Buffer.concat(chunks), swaps);
  res.writeHead(upstream.status, { ...head, "content-length": body.length });
  res.end(body);
  await finished(res).catch(() => {});
  done(body.length);
}

/** The client's X-Request-Id when it is a sane token, else a new one; sent upstream, returned, logged. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  const value = Array.isArray(given) ? given[0] : given;
  return value !== undefined && /^[A-Za-z0-9._:@\/+=-]{1,128}$/.test(value) ? value : randomUUID();
}

/** The values of the credentials chosen for a request, or the 502 to send when one cannot be had (logged, never shown). */
export async function credentialValues(runtime: ProxyRuntime, credentials: readonly CredentialSpec[]): Promise<Injection[] | { refusal: Refusal }> {
  try {
    return await Promise.all(credentials.map(async (c) => ({ header: c.header, value: await runtime.values.value(c) })));
  } catch (error) {
    runtime.logger.error("credential unavailable", { error });
    return { refusal: { status: 502, code: "credential-unavailable", message: "credproxy could not get the credential for this host; its log says why." } };
  }
}

/** The client's headers as the upstream gets them; Host is the canonical target. */
export function upstreamHeaders(raw: readonly string[], injections: readonly Injection[], host: string, options: { upgrade?: boolean } = {}): OutgoingHttpHeaders {
  // HTTP/2 pseudo-headers (:method, :authority…) are the request line, not headers.
  const list = forwardHeaders(pairs(raw).filter(([name]) => !name.startsWith(":")), injections, options).filter(([name]) => name !== "host");
  return { host, ...headerObject(list) };
}

export function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** Repeated names become arrays, which node:http writes as repeated lines. */
export function headerObject(list: HeaderList): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of list) {
    const key = name.toLowerCase();
    const current = out[key];
    if (current === undefined) out[key] = value;
    else if (Array.isArray(current)) current.push(value);
    else out[key] = [current, value];
  }
  return out;
}

export function sendRefusal(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  const body = refusal.message + "\n";
  res.writeHead(refusal.status, {
    ...refusal.headers,
    "x-credproxy-deny-reason": refusal.code,
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(body);
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
