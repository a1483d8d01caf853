/**
 * Forwards one relay or MCP request (relay-route.ts chose the entry and the run) to its URL,
 * with the entry's credential in its header (every value the client sent for that header
 * removed first; a credential with a placeholder is swapped in where the request carries it
 * instead, and placeholders follow their rules as at any host), hop-by-hop headers and the
 * run token dropped, and both bodies streamed.
 * The target is configured, not asked for by the sandbox, so it may be loopback or private
 * (that is what relays are for); only the proxy's own address is refused, and no upstream
 * proxy is used (a relay target is what a client would reach around the proxy anyway).
 *
 * Answers of its own: a credential that cannot be had is a 500 naming the fix (the operator
 * reads it in the sandbox's error); an unreachable target 502, a slow one 504.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { CredproxyError } from "../../errors.ts";
import { parseCidr, type Cidr } from "../../net/cidr.ts";
import { responseHeaders } from "../forward-headers.ts";
import { endpointThroughProxy, mcpUpstreamPath } from "../mcp/mcp-paths.ts";
import { sseEndpointRewriter } from "../mcp/sse-endpoint-rewrite.ts";
import type { Refusal } from "../refusal.ts";
import { resolveDestination } from "../resolve-destination.ts";
import type { Admitted } from "../server/admit.ts";
import { nodeClientSide, sendRefusal } from "../server/client-side.ts";
import { pairs, upstreamHeaders } from "../server/forward-request.ts";
import { canonicalHostHeader } from "../server/inner-target.ts";
import type { ProxyRuntime } from "../server/proxy-runtime.ts";
import { substitutedRequest } from "../server/substituted-request.ts";
import { placeholderStep } from "../placeholders/placeholder-step.ts";
import { logRequest } from "../server/request-log.ts";
import { openUpstream, type UpstreamResponse } from "../server/upstream-exchange.ts";
import type { UpstreamFailure } from "../server/upstream-request.ts";
import { relayRoute, TOKEN_HEADER, type RelayRoute } from "./relay-route.ts";

/** Every address: the target is the operator's choice. */
const ANY_ADDRESS = ["0.0.0.0/0", "::/0"].map((text) => parseCidr(text) as Cidr);

/** Serves an origin-form /relay/… or /mcp/… request; undefined for any other path (the proxy's own endpoints). */
export function relayEndpoint(runtime: ProxyRuntime, req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
  const token = req.headers[TOKEN_HEADER];
  const route = relayRoute(req.url ?? "/", Array.isArray(token) ? token[0] : token, runtime.state.config, runtime.state.runs);
  if (route === undefined) return undefined;
  if (!("status" in route)) return relayRequest(runtime, req, res, route);
  runtime.metrics.request("refused", []);
  sendRefusal(res, route);
  logRequest(runtime.logger, { run: undefined, mode: "refused", method: req.method ?? "GET", host: undefined, status: route.status, durationMs: 0, decision: "relay", reason: route.code });
  return Promise.resolve();
}

async function relayRequest(runtime: ProxyRuntime, req: IncomingMessage, res: ServerResponse, route: RelayRoute): Promise<void> {
  const started = performance.now();
  const client = nodeClientSide(req, res);
  const { spec, kind } = route;
  const log = (status: number, extra: { reason?: string; bytes?: number }) =>
    logRequest(runtime.logger, {
      run: route.tenant.name,
      mode: "plain",
      method: client.method,
      host: spec.target.authority,
      path: `/${kind}/${spec.name}${route.rest}${route.query}`, // never the token-bearing prefix
      status,
      durationMs: performance.now() - started,
      decision: `${kind}:${spec.name}`,
      credentials: [spec.credential.name],
      ...extra,
    });
  const refuse = (refusal: Refusal) => {
    client.refuse(refusal, {});
    log(refusal.status, { reason: refusal.code });
  };
  const tls = spec.url.protocol === "https:";
  const sent = { path: kind === "mcp" ? mcpUpstreamPath(spec, route.rest, route.query) : relayUpstreamPath(spec.url, route.rest, route.query), rawHeaders: relayedHeaders(req.rawHeaders, kind) };
  // Placeholders as at any host: swapped where their credential is bound to the target, refused where it is not.
  const step = placeholderStep(route.tenant, { target: spec.target, plaintext: !tls, ...sent });
  if (step.kind === "refused") {
    runtime.metrics.request("refused", []);
    return refuse(step.refusal);
  }
  const value = await credentialValue(runtime, route);
  if (typeof value !== "string") return refuse(value);
  const swapped = step.kind === "none" ? sent : await substitutedRequest(runtime, step, sent);
  if ("refusal" in swapped) return refuse(swapped.refusal);
  const admitted = await admittedFor(runtime, route);
  if ("status" in admitted) return refuse(admitted);
  const { path } = swapped;
  // A credential with a placeholder sets no header: its value went where the placeholder was.
  const injections = spec.credential.placeholder === undefined ? [{ header: spec.credential.header, value }] : [];
  const headers = upstreamHeaders(swapped.rawHeaders, injections, canonicalHostHeader(spec.target, tls));
  // Never through upstream_proxy: a relay target is what a client would reach around a proxy.
  const call = await openUpstream({ ...runtime, chooseProxy: () => undefined }, admitted, { tls, method: client.method, path, headers });
  if (client.gone) return void call.abort();
  client.onGone(() => call.abort());
  client.pipeBody(call.body);
  const upstream = await call.response;
  if ("kind" in upstream) {
    runtime.metrics.upstreamError(upstream.kind);
    runtime.logger.debug("relay upstream failed", { relay: spec.name, kind: upstream.kind, error: upstream.error.message });
    return refuse(unreachable(route, upstream));
  }
  runtime.metrics.request("allowed", [spec.credential.name]);
  if (upstream.status === 401 || upstream.status === 403) runtime.values.refresh(spec.credential);
  upstream.body.once("error", () => client.abort());
  const answer = responseFor(route, new URL(path, spec.url), upstream);
  const bytes = await client.respond(upstream.status, upstream.statusMessage, answer.head, answer.body);
  log(upstream.status, { bytes });
}

/** The credential's value now, or the 500 that says why there is none. */
async function credentialValue(runtime: ProxyRuntime, route: RelayRoute): Promise<string | Refusal> {
  try {
    return await runtime.values.value(route.spec.credential);
  } catch (error) {
    runtime.metrics.upstreamError("credential");
    runtime.logger.error("credential unavailable", { error });
    return credentialMissing(route, error);
  }
}

/** The target's addresses (any but the proxy's own): what openUpstream dials. */
async function admittedFor(runtime: ProxyRuntime, route: RelayRoute): Promise<Admitted | Refusal> {
  const { spec, kind } = route;
  const resolved = await resolveDestination(spec.target, { lookup: runtime.lookup, allow: ANY_ADDRESS, self: runtime.self });
  if (!resolved.ok) {
    return { status: resolved.code === "resolve-timeout" ? 504 : 502, code: `${kind}-${resolved.code}`, message: `credproxy could not reach the target of ${describe(route)}: ${resolved.reason}.` };
  }
  return { tenant: route.tenant, target: spec.target, decision: { allowed: true, by: "allow", pattern: `${kind}:${spec.name}` }, addresses: resolved.addresses };
}

/** The client's raw headers less the run token; for MCP also less Accept-Encoding, as its streams are rewritten event by event. */
function relayedHeaders(raw: readonly string[], kind: RelayRoute["kind"]): string[] {
  return pairs(raw)
    .filter(([name]) => {
      const lower = name.toLowerCase();
      return lower !== TOKEN_HEADER && !(kind === "mcp" && lower === "accept-encoding");
    })
    .flat();
}

/** The response as the client gets it: an MCP event stream goes through the endpoint rewrite (its length may change). */
function responseFor(route: RelayRoute, requested: URL, upstream: UpstreamResponse): { head: [string, string][]; body: Readable } {
  const head = responseHeaders(upstream.headers);
  if (route.kind !== "mcp" || !isEventStream(head)) return { head, body: upstream.body };
  const rewrite = (endpoint: string) => endpointThroughProxy(endpoint, requested, route.spec, route.prefix);
  return { head: head.filter(([name]) => name !== "content-length"), body: upstream.body.pipe(sseEndpointRewriter(rewrite)) };
}

/** /relay/NAME/REST?Q → the URL's path, then /REST, then ?Q. */
export function relayUpstreamPath(url: URL, rest: string, query: string): string {
  const base = url.pathname.endsWith("/") ? url.pathname.slice(0, -1) : url.pathname;
  const path = base + rest;
  return (path === "" ? "/" : path) + query;
}

function isEventStream(head: readonly (readonly [string, string])[]): boolean {
  return head.some(([name, value]) => name === "content-type" && /^\s*text\/event-stream\b/i.test(value));
}

function describe(route: RelayRoute): string {
  return route.kind === "mcp" ? `MCP server "${route.spec.name}"` : `relay "${route.spec.name}"`;
}

/** The 500 a sandbox shows its user: which credential, why (never a value), and the fix. */
function credentialMissing(route: RelayRoute, error: unknown): Refusal {
  const name = route.spec.credential.name;
  const detail = error instanceof CredproxyError ? `${error.message}${error.hint ? `. Fix: ${error.hint}` : ""}` : "see credproxy's log";
  return { status: 500, code: "credential-unavailable", message: `credproxy could not get credential "${name}" for ${describe(route)} (in ${route.tenant.source}): ${detail}.` };
}

function unreachable(route: RelayRoute, failure: UpstreamFailure): Refusal {
  const target = `the target of ${describe(route)}`;
  if (failure.kind === "timeout") return { status: 504, code: `${route.kind}-timeout`, message: `credproxy could not reach ${target} in time.` };
  if (failure.kind === "tls") return { status: 502, code: `${route.kind}-certificate`, message: `credproxy did not trust the certificate of ${target}; if it is an internal host, add its CA to tls.upstream_ca_bundle.` };
  return { status: 502, code: `${route.kind}-unreachable`, message: `credproxy could not get an answer from ${target} (${failure.kind === "reset" ? "connection reset" : "connection failed"}).` };
}
