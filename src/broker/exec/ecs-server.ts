/**
 * The loopback endpoint `credproxy broker exec` gives its child: the ECS container-credentials
 * contract (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN) on
 * 127.0.0.1 and an ephemeral port, like `aws-vault exec --ecs-server`, with the checks
 * aws-vault lacks (reference/aws-credential-protocols.md §5.3, §9): a 256-bit token compared in
 * constant time on every path, a Host check against DNS rebinding, and GET only.
 */
import type { Server } from "bun";
import { json } from "../../http/json.ts";
import { listen } from "../../http/listen.ts";
import { TokenIndex } from "../../http/token-index.ts";
import type { Logger } from "../../log.ts";

export interface EcsServerOptions {
  /** What an authorised GET answers, by path (`credentialRoutes()`). */
  readonly routes: (path: string) => Response | Promise<Response>;
  readonly logger: Logger;
}

export interface EcsServer {
  /** `http://127.0.0.1:<port>/`: the value for AWS_CONTAINER_CREDENTIALS_FULL_URI. */
  readonly url: string;
  /** The value for AWS_CONTAINER_AUTHORIZATION_TOKEN. A secret: never log it. */
  readonly token: string;
  readonly port: number;
  /** Stops listening; requests in flight get a short grace period. */
  stop(): Promise<void>;
}

/** 32 bytes = 256 bits (aws-vault uses 30). */
export const TOKEN_BYTES = 32;
const HOST = "127.0.0.1";
/** Once the child has exited nothing should be waiting long on us. */
const STOP_GRACE_MS = 500;

type Handler = (req: Request, server: Server<undefined>) => Response | Promise<Response>;

/**
 * Starts the endpoint with a fresh token. Every request passes, in order: the Host check (403),
 * the token check (403, JSON `{Code, Message}` as aws-vault answers), the method check (405),
 * then `routes`.
 */
export function startEcsServer(options: EcsServerOptions): EcsServer {
  const { logger } = options;
  const token = newToken();
  // `port` is known only once listening; the Host guard reads it per request.
  let port = 0;
  const handler = withHostCheck(() => port, logger, withAuthToken(token, logger, withGetOnly(logger, routeByPath(options.routes, logger))));
  const listener = listen({ name: "broker exec credential endpoint", hostname: HOST, port: 0, fetch: handler, configKey: "(ephemeral port)" });
  port = listener.port;
  const url = `http://${HOST}:${port}/`;
  logger.debug("credential endpoint listening", { url });
  return {
    url,
    token,
    port,
    stop: () => listener.stop(STOP_GRACE_MS),
  };
}

/** 32 random bytes, base64url without padding (43 characters). */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  return Buffer.from(bytes).toString("base64url");
}

/**
 * DNS-rebinding defence: a web page whose name now resolves to 127.0.0.1 still sends its own
 * name as Host. SDKs send the host and port of AWS_CONTAINER_CREDENTIALS_FULL_URI verbatim.
 */
function withHostCheck(port: () => number, logger: Logger, next: Handler): Handler {
  return (req, server) => {
    const host = (req.headers.get("host") ?? "").toLowerCase();
    const p = port();
    if (host !== `${HOST}:${p}` && host !== `localhost:${p}`) {
      // The value is the caller's: shortened and reduced to printable ASCII before it reaches a terminal.
      const shown = host.slice(0, 100).replace(/[^\x20-\x7e]/g, "?");
      logger.info("credential request refused: unexpected Host header", { host: shown, remote: server.requestIP(req)?.address });
      return json({ Code: "AccessDenied", Message: "unexpected Host header" }, 403);
    }
    return next(req, server);
  };
}

/** The raw header value, as SDKs send it (no scheme), in constant time via TokenIndex. */
function withAuthToken(token: string, logger: Logger, next: Handler): Handler {
  const index = new TokenIndex([[token, true] as const]);
  return (req, server) => {
    const presented = req.headers.get("authorization");
    if (presented === null || index.lookup(presented) !== true) {
      // SDKs retry a 403 several times (§2), so this is info, not warn: the command's own
      // stderr is shared with ours.
      logger.info("credential request refused: missing or invalid Authorization token", {
        path: new URL(req.url).pathname,
        hasAuthorization: presented !== null,
      });
      return json({ Code: "AccessDenied", Message: "invalid Authorization token" }, 403);
    }
    return next(req, server);
  };
}

function withGetOnly(logger: Logger, next: Handler): Handler {
  return (req, server) => {
    if (req.method !== "GET") {
      logger.info("credential request refused: method not allowed", { method: req.method });
      return json({ Code: "MethodNotAllowed", Message: `method ${req.method} not allowed; use GET` }, 405, { allow: "GET" });
    }
    return next(req, server);
  };
}

function routeByPath(routes: EcsServerOptions["routes"], logger: Logger): Handler {
  return (req) => {
    // Role ARNs in the path are logged on purpose (§9); nothing else in the request is.
    const path = new URL(req.url).pathname;
    if (logger.enabled("debug")) logger.debug("credential request", { path });
    return routes(path);
  };
}
