/** Counts and logs a request admission refused (407, 400, 403, 502/504 on resolution). */
import type { Refused } from "./admit.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { logRequest } from "./request-log.ts";

export function reportRefusal(runtime: ProxyRuntime, refused: Refused, request: { method: string; path?: string | undefined; started: number }): void {
  const policy = refused.status === 407 && refused.code.startsWith("host");
  runtime.metrics.request(policy ? "denied" : "refused", []);
  logRequest(runtime.logger, {
    run: refused.tenant?.name,
    mode: "refused",
    method: request.method,
    host: refused.target?.authority,
    path: request.path,
    status: refused.status,
    durationMs: performance.now() - request.started,
    decision: policy ? "denied" : "refused",
    reason: refused.code,
  });
}
