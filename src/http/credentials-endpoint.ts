import { toEcsResponse } from "../credentials/ecs-response.ts";
import type { RoleCredentials } from "../credentials/types.ts";
import { CredproxyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ServiceEntry } from "../serve/service-registry.ts";
import { json, JSON_HEADERS } from "./json.ts";
import type { CredproxyMetrics } from "./metrics.ts";

export interface CredentialsEndpointDeps {
  byToken(authorization: string): ServiceEntry | undefined;
  metrics: CredproxyMetrics;
  logger: Logger;
}

// One serialised body per credential set: the hot path does no JSON work.
const bodies = new WeakMap<RoleCredentials, string>();

/**
 * GET /v1/credentials: the ECS container-credentials contract. The `Authorization` header
 * value picks the service (compared exactly and in constant time); the body carries
 * AccessKeyId, SecretAccessKey, Token, Expiration (whole seconds, Z), RoleArn and AccountId.
 */
export function credentialsEndpoint(req: Request, remoteAddress: () => string, deps: CredentialsEndpointDeps): Response | Promise<Response> {
  const started = performance.now();
  const authorization = req.headers.get("authorization");
  if (!authorization) {
    deps.metrics.recordRequest("unknown", "denied_missing_token", elapsed(started));
    deps.logger.info("credential request without Authorization header", { remote: remoteAddress() });
    return json({ error: "Authorization header required" }, 401);
  }
  const entry = deps.byToken(authorization);
  if (!entry) {
    deps.metrics.recordRequest("unknown", "denied_invalid_token", elapsed(started));
    deps.logger.info("credential request with an unknown token", { remote: remoteAddress() });
    return json({ error: "Invalid authorization token" }, 401);
  }
  return answer(entry, started, remoteAddress, deps);
}

/**
 * GET <relative_uri>: the ECS AWS_CONTAINER_CREDENTIALS_RELATIVE_URI contract, where the
 * unguessable path (already matched by the caller, in constant time) selects the service and
 * no token is needed.
 */
export function relativeUriEndpoint(entry: ServiceEntry, remoteAddress: () => string, deps: CredentialsEndpointDeps): Response | Promise<Response> {
  return answer(entry, performance.now(), remoteAddress, deps);
}

function answer(entry: ServiceEntry, started: number, remoteAddress: () => string, deps: CredentialsEndpointDeps): Response | Promise<Response> {
  // Fast path: cached credentials answer synchronously (no Promise for Bun.serve to await).
  const cached = entry.credentials.peek();
  if (cached) return served(entry, cached, started, remoteAddress, deps);
  return entry.credentials.get().then(
    (creds) => served(entry, creds, started, remoteAddress, deps),
    (error: unknown) => unavailable(entry, error, started, remoteAddress, deps),
  );
}

function served(entry: ServiceEntry, creds: RoleCredentials, started: number, remoteAddress: () => string, deps: CredentialsEndpointDeps): Response {
  let body = bodies.get(creds);
  if (body === undefined) {
    body = JSON.stringify(toEcsResponse(creds));
    bodies.set(creds, body);
  }
  deps.metrics.recordRequest(entry.spec.name, "success", elapsed(started));
  if (deps.logger.enabled("debug")) deps.logger.debug("credentials served", { service: entry.spec.name, remote: remoteAddress() });
  return new Response(body, { headers: JSON_HEADERS });
}

function unavailable(entry: ServiceEntry, error: unknown, started: number, remoteAddress: () => string, deps: CredentialsEndpointDeps): Response {
  const service = entry.spec.name;
  deps.metrics.recordRequest(service, "error", elapsed(started));
  const status = entry.credentials.status();
  const retryAfter = status.nextAttemptAt ? Math.max(1, Math.ceil((status.nextAttemptAt.getTime() - Date.now()) / 1000)) : 5;
  const known = error instanceof CredproxyError;
  deps.logger.warn("no valid credentials to serve", { service, remote: remoteAddress(), error: known ? error.message : String(error) });
  return json(
    {
      // The core's messages already name the service ("Cannot get credentials for service 'x': …").
      error: known ? error.message : `Cannot get credentials for service '${service}': internal error`,
      code: known ? error.code : "E_INTERNAL",
      service,
      ...(known && error.hint ? { hint: error.hint } : {}),
    },
    503,
    { "retry-after": String(retryAfter) },
  );
}

function elapsed(started: number): number {
  return (performance.now() - started) / 1000;
}
