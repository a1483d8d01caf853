/**
 * HTTP/2 to upstreams that offer it. The first request to an origin opens TLS at the checked
 * address with ALPN h2 and http/1.1: an origin that picks h2 gets one multiplexed session,
 * reused by every later request of the tenant; one that picks http/1.1 is remembered as
 * such for a while and served by the HTTP/1.1 pools, so an h1-only upstream still works for
 * an h2 client. Sessions are per tenant and per checked address, like the HTTP/1.1 pools.
 */
import { connect as h2Connect, type ClientHttp2Session } from "node:http2";
import { connect as tlsConnect, type SecureContext } from "node:tls";
import type { IpAddress } from "../../net/ip-address.ts";
import type { CanonicalTarget } from "../canonical-host.ts";

const H1_MEMORY_MS = 10 * 60_000;
/** Past this many remembered HTTP/1.1 origins the memory starts again (a permissive proxy meets many). */
const H1_MEMORY_MAX = 10_000;

export type SessionResult = { session: ClientHttp2Session } | { h1: true } | { failure: "connect" | "timeout" | "tls"; error: Error };

export interface SessionRequest {
  readonly tenant: string;
  readonly target: CanonicalTarget;
  readonly address: IpAddress;
  readonly secureContext: SecureContext;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

export class UpstreamH2 {
  readonly #sessions = new Map<string, Promise<SessionResult>>();
  readonly #h1Until = new Map<string, number>();

  /** An open h2 session to the target, `{h1}` when it speaks only HTTP/1.1, or why neither. */
  session(request: SessionRequest): Promise<SessionResult> {
    const key = `${request.tenant}\0${request.address.text}\0${request.target.authority}`;
    const until = this.#h1Until.get(key);
    if (until !== undefined && until > Date.now()) return Promise.resolve({ h1: true });
    let pending = this.#sessions.get(key);
    if (!pending) {
      pending = open(request).then((result) => {
        if ("session" in result) {
          const forget = () => this.#sessions.get(key) === pending && this.#sessions.delete(key);
          result.session.once("close", forget).once("goaway", forget).once("error", forget);
        } else {
          this.#sessions.delete(key);
          if ("h1" in result) {
            if (this.#h1Until.size >= H1_MEMORY_MAX) this.#h1Until.clear();
            this.#h1Until.set(key, Date.now() + H1_MEMORY_MS);
          }
        }
        return result;
      });
      this.#sessions.set(key, pending);
    }
    return pending;
  }

  /** Closes the sessions of tenants that are gone (or all). */
  retain(tenants: ReadonlySet<string> | undefined): void {
    for (const [key, pending] of this.#sessions) {
      if (tenants?.has(key.split("\0", 1)[0]!)) continue;
      this.#sessions.delete(key);
      void pending.then((r) => ("session" in r ? r.session.destroy() : undefined));
    }
  }
}

function open(request: SessionRequest): Promise<SessionResult> {
  const { target, address } = request;
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: address.text,
      port: target.port,
      secureContext: request.secureContext,
      ALPNProtocols: ["h2", "http/1.1"],
      ...(target.kind === "name" ? { servername: target.host } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ failure: "timeout", error: new Error("connect timed out") });
    }, request.connectTimeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      if (socket.alpnProtocol !== "h2") {
        socket.destroy();
        return resolve({ h1: true });
      }
      const session = h2Connect(`https://${target.authority}`, { createConnection: () => socket });
      session.on("error", () => {});
      session.setTimeout(request.idleTimeoutMs, () => session.close());
      resolve({ session });
    });
    socket.once("error", (error: Error & { code?: string }) => {
      clearTimeout(timer);
      const tls = /CERT|SSL|TLS|SELF_SIGNED|HOSTNAME|ALTNAME|UNABLE_TO/i.test(`${error.code ?? ""} ${error.message}`);
      resolve({ failure: tls ? "tls" : "connect", error });
    });
  });
}
