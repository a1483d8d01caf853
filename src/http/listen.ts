import type { Server } from "bun";
import { CredproxyError, ErrorCode } from "../errors.ts";

export type Handler = (req: Request, server: Server<undefined>) => Response | Promise<Response>;
/** Exact paths routed natively by Bun (no URL parsing in JS), by method. */
export type Routes = Record<string, Partial<Record<"GET" | "HEAD" | "POST" | "PUT" | "DELETE", Handler>>>;

export interface Listener {
  readonly url: URL;
  readonly port: number;
  readonly hostname: string;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes the rest. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Opens an HTTP/1.1 listener (keep-alive on) with Bun.serve and turns bind failures into one
 * clear CredproxyError naming the address, instead of a stack trace.
 */
export function listen(options: {
  name: string;
  hostname: string;
  port: number;
  /** Answers everything `routes` does not: other paths and other methods. */
  fetch: Handler;
  routes?: Routes;
  configKey: string;
}): Listener {
  let server: Server<undefined>;
  try {
    server = Bun.serve({
      hostname: options.hostname,
      port: options.port,
      fetch: options.fetch,
      ...(options.routes ? { routes: options.routes } : {}),
      error: () => new Response(JSON.stringify({ error: "internal error" }), { status: 500 }),
      // Keep idle keep-alive connections open long enough for SDK clients to reuse them.
      idleTimeout: 30,
    });
  } catch (error) {
    throw bindError(options, error);
  }
  const port = server.port ?? options.port;
  return {
    url: server.url,
    port,
    hostname: options.hostname,
    async stop(graceMs = 1500) {
      const graceful = server.stop(false);
      const timer = new Promise<"timeout">((resolve) => setTimeout(resolve, graceMs, "timeout").unref?.());
      if ((await Promise.race([graceful.then(() => "done" as const), timer])) === "timeout") {
        await server.stop(true);
      }
    },
  };
}

export function bindError(options: { name: string; hostname: string; port: number; configKey: string }, error: unknown): CredproxyError {
  const code = (error as { code?: string } | null)?.code;
  const address = `${options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname}:${options.port}`;
  if (code === "EADDRINUSE") {
    return new CredproxyError(ErrorCode.Listen, `Cannot listen on ${address} for the ${options.name} as the address is already in use`, {
      hint: `stop the other process using port ${options.port}, or choose another port with ${options.configKey}`,
      cause: error,
    });
  }
  if (code === "EACCES") {
    return new CredproxyError(ErrorCode.Listen, `Cannot listen on ${address} for the ${options.name} as permission was denied`, {
      hint: `ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another port with ${options.configKey}`,
      cause: error,
    });
  }
  if (code === "EADDRNOTAVAIL") {
    return new CredproxyError(ErrorCode.Listen, `Cannot listen on ${address} for the ${options.name} as no interface has that address`, {
      hint: `use 127.0.0.1, 0.0.0.0 or an address of this host in ${options.configKey}`,
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CredproxyError(ErrorCode.Listen, `Cannot listen on ${address} for the ${options.name}: ${message}`, { cause: error });
}
