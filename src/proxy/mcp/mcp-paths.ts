/**
 * How paths under /mcp/NAME map to the MCP server, and back. /mcp/NAME is the configured URL
 * (streamable HTTP sends every POST, GET and DELETE there); /mcp/NAME/PATH is PATH on the
 * URL's origin, because the old SSE transport names its message endpoint anywhere on its
 * server (typically /messages beside /sse), and its `endpoint` event is rewritten to that form.
 */
import type { RelaySpec } from "../config/proxy-config.ts";

/** The origin-form path asked of the MCP server. */
export function mcpUpstreamPath(spec: RelaySpec, rest: string, query: string): string {
  return (rest === "" ? spec.url.pathname : rest) + query;
}

/**
 * The endpoint URL a client should post to, through the proxy: `endpoint` as the server sent
 * it (relative to `requested`, the URL the SSE stream came from). One on another origin is
 * left as it is: the proxy would not send the credential there anyway.
 */
export function endpointThroughProxy(endpoint: string, requested: URL, spec: RelaySpec, prefix: string): string {
  let url: URL;
  try {
    url = new URL(endpoint, requested);
  } catch {
    return endpoint;
  }
  if (url.origin !== spec.url.origin) return endpoint;
  return (url.pathname === spec.url.pathname ? prefix : prefix + url.pathname) + url.search;
}
