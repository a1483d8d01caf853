import { describe, expect, test } from "bun:test";
import type { RelaySpec } from "../config/proxy-config.ts";
import { endpointThroughProxy, mcpUpstreamPath } from "./mcp-paths.ts";

const spec = (url: string) => ({ name: "tools", url: new URL(url) }) as unknown as RelaySpec;

describe("MCP paths", () => {
  test("/mcp/NAME is the configured URL, /mcp/NAME/PATH is PATH on its origin, the query as sent", () => {
    expect(mcpUpstreamPath(spec("https://h.example/v1/mcp"), "", "?a=1")).toBe("/v1/mcp?a=1");
    expect(mcpUpstreamPath(spec("https://h.example/sse"), "/messages", "?sessionId=9")).toBe("/messages?sessionId=9");
  });

  test("an endpoint on the server's origin comes back through the proxy; one elsewhere is left alone", () => {
    const legacy = spec("https://h.example/sse");
    const requested = new URL("https://h.example/sse");
    expect(endpointThroughProxy("/messages?sessionId=9", requested, legacy, "/mcp/TOKEN/tools")).toBe("/mcp/TOKEN/tools/messages?sessionId=9");
    expect(endpointThroughProxy("https://h.example/sse?x=1", requested, legacy, "/mcp/tools")).toBe("/mcp/tools?x=1");
    expect(endpointThroughProxy("https://other.example/messages", requested, legacy, "/mcp/tools")).toBe("https://other.example/messages");
  });
});
