/**
 * A small remote MCP server for the proxy's MCP tests, built on @modelcontextprotocol/sdk's
 * server classes, over HTTPS on 127.0.0.1 (port chosen by the OS):
 *
 *   /mcp        streamable HTTP (stateful: Mcp-Session-Id), POST answered as SSE, or as JSON
 *               with `jsonResponse`; GET opens the server's stream, DELETE ends the session
 *   /sse        the older SSE transport: its `endpoint` event names /messages?sessionId=…
 *   /messages   that transport's POSTs
 *
 * Every request must carry `authorization` exactly (what the proxy injects); any other value
 * gets 401 and is recorded. Tools: `echo` ({text}) answers at once; `wait-for-release` sends
 * a progress notification on its response stream, then finishes only once the test calls
 * `release()`, so a test can see the notification arrive while the stream is still open.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { onCleanup } from "./cleanup.ts";
import { listenTracked } from "./listen-tracked.ts";
import type { TestPki } from "./test-ca.ts";
import { deferred, type Deferred } from "./wait.ts";

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly sessionId: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface McpTestServer {
  readonly port: number;
  readonly seen: SeenRequest[];
  /** Requests refused for a wrong or missing Authorization. */
  readonly refused: SeenRequest[];
  /** Lets the oldest waiting `wait-for-release` call finish (banked if none waits yet). */
  release(): void;
  close(): Promise<void>;
}

export interface McpServerOptions {
  readonly pki: TestPki;
  readonly authorization: string;
  readonly jsonResponse?: boolean;
}

export async function startMcpServer(options: McpServerOptions): Promise<McpTestServer> {
  const seen: SeenRequest[] = [];
  const refused: SeenRequest[] = [];
  const gates: Deferred<void>[] = [];
  let banked = 0;
  const nextGate = (): Promise<void> => {
    if (banked > 0) {
      banked--;
      return Promise.resolve();
    }
    const gate = deferred<void>();
    gates.push(gate);
    return gate.promise;
  };
  const streamable = new Map<string, StreamableHTTPServerTransport>();
  const legacy = new Map<string, SSEServerTransport>();
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "https://localhost");
    const record = { method: req.method ?? "GET", path: url.pathname + url.search, authorization: req.headers.authorization, sessionId: single(req.headers["mcp-session-id"]), headers: { ...req.headers } };
    if (req.headers.authorization !== options.authorization) {
      refused.push(record);
      res.writeHead(401, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: "wrong or missing Authorization" }));
    }
    seen.push(record);
    if (url.pathname === "/mcp") {
      let transport = record.sessionId === undefined ? undefined : streamable.get(record.sessionId);
      if (!transport) {
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          enableJsonResponse: options.jsonResponse ?? false,
          onsessioninitialized: (id) => void streamable.set(id, created),
        });
        await toolServer(nextGate).connect(created);
        transport = created;
      }
      return transport.handleRequest(req, res);
    }
    if (url.pathname === "/sse" && req.method === "GET") {
      const transport = new SSEServerTransport("/messages", res);
      legacy.set(transport.sessionId, transport);
      return toolServer(nextGate).connect(transport);
    }
    const posted = legacy.get(url.searchParams.get("sessionId") ?? "");
    if (url.pathname === "/messages" && req.method === "POST" && posted) return posted.handlePostMessage(req, res);
    res.writeHead(404).end();
  };
  const server = createServer({ cert: options.pki.certPem, key: options.pki.keyPem }, (req, res) => void handle(req, res).catch(() => res.destroy()));
  const { port, stop } = await listenTracked(server);
  const close = async () => {
    for (const gate of gates) gate.resolve();
    await stop();
  };
  onCleanup("mcp test server", close);
  return {
    port,
    seen,
    refused,
    release: () => {
      const gate = gates.shift();
      if (gate) gate.resolve();
      else banked++;
    },
    close,
  };
}

/** One SDK Server per session (a Server serves one transport). */
function toolServer(nextGate: () => Promise<void>): Server {
  const server = new Server({ name: "credproxy-test-mcp", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      { name: "echo", description: "Answers with its text", inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] } },
      { name: "wait-for-release", description: "Sends progress, then waits for the test", inputSchema: { type: "object", properties: {} } },
    ],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    if (request.params.name === "echo") return { content: [{ type: "text", text: `echo: ${String(request.params.arguments?.text)}` }] };
    const progressToken = request.params._meta?.progressToken;
    if (progressToken !== undefined) await extra.sendNotification({ method: "notifications/progress", params: { progressToken, progress: 1, total: 2, message: "halfway" } });
    await nextGate();
    return { content: [{ type: "text", text: "released" }] };
  });
  return server;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
