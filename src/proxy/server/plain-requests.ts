/**
 * Requests the proxy reads on a connection that is not a tunnel: plain http:// in absolute
 * form (each request checked on its own: token, canonical target, policy, addresses), and
 * origin-form requests to the proxy itself (/_credproxy/health, /_credproxy/metrics, and the
 * relays and MCP servers at /relay/… and /mcp/…).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { admit } from "./admit.ts";
import { sendRefusal } from "./client-side.ts";
import { forwardRequest } from "./forward-request.ts";
import { ownEndpoint } from "./own-endpoints.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { reportRefusal } from "./report-refusal.ts";
import { relayEndpoint } from "../relay/relay-request.ts";

export async function plainRequest(runtime: ProxyRuntime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? "/";
  if (url.startsWith("/")) return relayEndpoint(runtime, req, res) ?? ownEndpoint(runtime, req, res);
  const split = splitAbsolute(url);
  if (split === undefined) {
    return sendRefusal(res, { status: 400, code: "bad-target", message: "credproxy refused the request: the target is neither http://host/path nor /path." });
  }
  const started = performance.now();
  const admitted = await admit(
    { authority: split.authority, proxyAuthorization: header(req, "proxy-authorization"), defaultPort: 80 },
    { config: runtime.state.config, runs: runtime.state.runs, self: runtime.self, lookup: runtime.lookup, viaProxy: (t) => runtime.chooseProxy(t, false) !== undefined },
  );
  if ("status" in admitted) {
    sendRefusal(res, admitted);
    return reportRefusal(runtime, admitted, { method: req.method ?? "GET", path: split.path, started });
  }
  await forwardRequest(runtime, req, res, { admitted, tls: false, servername: undefined, mode: "plain", path: split.path });
}

/** `http://host:port/p?q` → its raw authority and origin-form path; the authority is parsed by parseAuthority only. */
export function splitAbsolute(url: string): { authority: string; path: string } | undefined {
  const match = /^http:\/\/([^/?#]*)([^#]*)/i.exec(url);
  if (!match) return undefined;
  const rest = match[2]!;
  return { authority: match[1]!, path: rest === "" ? "/" : rest.startsWith("/") ? rest : `/${rest}` };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
