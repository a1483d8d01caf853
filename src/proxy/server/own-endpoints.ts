/**
 * The proxy's own answers to origin-form requests on its port: GET /_credproxy/health (what
 * `credproxy healthcheck` probes), GET /_credproxy/metrics and GET /_credproxy/aws/credentials
 * (container-credentials.ts: a run's role, for its token only). Anything else gets a 400 that
 * says how a client is meant to use a proxy. Health and metrics show no token, credential or host.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { AWS_CREDENTIALS_PATH, serveContainerCredentials } from "./container-credentials.ts";

export const HEALTH_PATH = "/_credproxy/health";
export const METRICS_PATH = "/_credproxy/metrics";

export async function ownEndpoint(runtime: ProxyRuntime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?", 1)[0];
  const method = req.method ?? "GET";
  if (path === AWS_CREDENTIALS_PATH) return serveContainerCredentials(runtime, req, res);
  if ((method === "GET" || method === "HEAD") && path === HEALTH_PATH) return json(res, 200, health(runtime), method === "HEAD");
  if ((method === "GET" || method === "HEAD") && path === METRICS_PATH && runtime.state.config.metrics.enabled) {
    const text = await runtime.metrics.render();
    res.writeHead(200, { "content-type": runtime.metrics.contentType, "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
    return void res.end(method === "HEAD" ? undefined : text);
  }
  const body =
    "This is credproxy proxy, a forward proxy. Send requests through it (HTTPS_PROXY=http://HOST:PORT, " +
    `or \`credproxy proxy env\`); its own paths are ${HEALTH_PATH} and ${METRICS_PATH}.\n`;
  res.writeHead(400, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body), "x-credproxy-deny-reason": "not-a-proxy-request" });
  res.end(body);
}

function health(runtime: ProxyRuntime): Record<string, unknown> {
  const { config, runs } = runtime.state;
  return {
    status: "healthy",
    tenants: config.runsDir === undefined ? 1 : runs.length,
    runs_dir: config.runsDir === undefined ? undefined : { runs: runs.length },
    connections: runtime.connections,
    leaf_certificates: runtime.leaves.size,
  };
}

function json(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  const body = JSON.stringify(value) + "\n";
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(head ? undefined : body);
}
