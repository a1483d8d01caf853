/**
 * The fake ssmmessages endpoint: the WebSocket at a session's StreamUrl. The upgrade must be
 * SigV4-shaped for `ssmmessages` (ssm-tunnel-2.md §1.2) and dialled at the URL last issued
 * (an old cell-number is refused, so a client that reconnects to its first URL fails as it would
 * against the real service, §1.4). The first frame must be the open-data-channel text frame with
 * the current token, else close 1003 as the service does (ssm-tunnel.md §2.2). After that, binary
 * frames go to the session's agent.
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { ClientSocket } from "./fake-agent.ts";
import type { FakeSession } from "./fake-session.ts";
import { sigV4ShapeProblem } from "./sigv4-shape.ts";

export interface DataChannelSocketData {
  readonly session: FakeSession;
  opened: boolean;
  link: ClientSocket | undefined;
}

const PATH = /^\/v1\/data-channel\/([^/]+)$/;
const NO_TOKEN = "request to open data channel does not contain token";

/** Upgrades a data channel request, or answers why not. Undefined when `request` is not for this endpoint. */
export function upgradeDataChannel(
  request: Request,
  server: Server<DataChannelSocketData>,
  sessions: ReadonlyMap<string, FakeSession>,
  requireSigned: boolean,
): Response | undefined | "upgraded" {
  const url = new URL(request.url);
  const match = PATH.exec(url.pathname);
  if (match === null) return undefined;
  const session = sessions.get(decodeURIComponent(match[1]!));
  if (session === undefined || session.terminated) return new Response("no such session", { status: 404 });
  if (rawQueryValue(url.search, "cell-number") !== session.current.cellNumber) {
    return new Response("stream URL is not the one last issued for this session", { status: 403 });
  }
  const problem = requireSigned ? sigV4ShapeProblem(request.headers.get("authorization"), request.headers.get("x-amz-date"), "ssmmessages") : undefined;
  if (problem !== undefined) return new Response(`upgrade not signed: ${problem}`, { status: 403 });
  const data: DataChannelSocketData = { session, opened: false, link: undefined };
  return server.upgrade(request, { data }) ? "upgraded" : new Response("expected a WebSocket upgrade", { status: 400 });
}

/** A query value exactly as sent (no form decoding: `+` stays `+`). */
function rawQueryValue(search: string, key: string): string | undefined {
  for (const pair of search.replace(/^\?/, "").split("&")) {
    const at = pair.indexOf("=");
    if ((at < 0 ? pair : pair.slice(0, at)) === key) return at < 0 ? "" : pair.slice(at + 1);
  }
  return undefined;
}

/** The Bun.serve websocket handlers. */
export function dataChannelHandlers(): WebSocketHandler<DataChannelSocketData> {
  return {
    perMessageDeflate: false,
    message(ws, message) {
      if (ws.data.opened) {
        if (typeof message !== "string") ws.data.session.agent.receiveFrame(message);
        return;
      }
      openChannel(ws, message);
    },
    close(ws) {
      const { session, link } = ws.data;
      if (link === undefined) return;
      session.agent.detach(link);
      if (session.socket === link) session.socket = undefined;
    },
  };
}

/** Checks the open frame and attaches the socket to the session's agent, replacing any older one. */
function openChannel(ws: ServerWebSocket<DataChannelSocketData>, message: string | Buffer): void {
  const session = ws.data.session;
  const open = typeof message === "string" ? parseOpenFrame(message) : undefined;
  if (open === undefined || open.tokenValue !== session.current.tokenValue || session.terminated) {
    ws.close(1003, NO_TOKEN);
    return;
  }
  const link: ClientSocket = { send: (frame) => void ws.sendBinary(frame), close: (code, reason) => ws.close(code, reason) };
  const previous = session.socket;
  if (previous !== undefined) {
    session.agent.detach(previous);
    previous.close(1000, "replaced by a newer connection");
  }
  ws.data.opened = true;
  ws.data.link = link;
  session.socket = link;
  session.clientIds.push(open.clientId);
  session.agent.attach(link);
}

function parseOpenFrame(text: string): { tokenValue: string; clientId: string } | undefined {
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== "object" || json === null) return undefined;
    const { TokenValue, ClientId } = json as Record<string, unknown>;
    if (typeof TokenValue !== "string" || TokenValue === "") return undefined;
    return { tokenValue: TokenValue, clientId: typeof ClientId === "string" ? ClientId : "" };
  } catch {
    return undefined;
  }
}
