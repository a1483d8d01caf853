/**
 * Every answer the proxy gives in place of an upstream's: what is refused, why (a code in
 * X-Credproxy-Deny-Reason for scripts) and, in the body, one paragraph for the person reading
 * a client's error. Each kind has its status, so a client (and a troubleshooting table) can
 * tell them apart: 407 policy or proxy auth, 403 destination address, 421 misdirected, 431
 * head too large, 502 upstream failed, 503 too many connections, 504 upstream timed out.
 * Bodies never name internal hosts or carry secrets: upstream failures say only what failed.
 */
import { PROXY_AUTH_CHALLENGE } from "./proxy-auth.ts";

export interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  403: "Forbidden",
  405: "Method Not Allowed",
  407: "Proxy Authentication Required",
  413: "Content Too Large",
  421: "Misdirected Request",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** Missing or wrong run token: the Basic challenge that makes curl and git retry with the URL's userinfo. */
export function authRequired(present: boolean): Refusal {
  return {
    status: 407,
    code: present ? "bad-proxy-token" : "proxy-token-required",
    message: present
      ? "credproxy refused the request: the proxy token in Proxy-Authorization matches no run. Take the proxy URL from `credproxy proxy env --run NAME`."
      : "credproxy needs a proxy token: put it in the proxy URL, http://run:TOKEN@host:port (see `credproxy proxy env`).",
    headers: { "Proxy-Authenticate": PROXY_AUTH_CHALLENGE },
  };
}

/** The request inside a tunnel names another host than the CONNECT did (Host header or SNI). */
export function misdirected(what: "Host header" | "TLS server name", named: string, connected: string): Refusal {
  return {
    status: 421,
    code: "misdirected",
    message: `credproxy refused the request: its ${what} names ${named}, but the tunnel was opened (CONNECT) to ${connected}. Send requests for a host through a tunnel to that host.`,
  };
}

export function upstreamFailed(authority: string, timedOut: boolean): Refusal {
  return timedOut
    ? { status: 504, code: "upstream-timeout", message: `credproxy could not reach ${authority} in time.` }
    : { status: 502, code: "upstream-failed", message: `credproxy could not get an answer from ${authority}.` };
}

/** A request head node:http refused to parse (its `clientError` code): 431 when too large, else 400. */
export function unparsableRequest(parserCode: string | undefined): Refusal {
  if (parserCode === "HPE_HEADER_OVERFLOW") {
    return { status: 431, code: "head-too-large", message: "credproxy refused the request: its head is larger than limits.max_header_bytes." };
  }
  return { status: 400, code: "bad-head", message: "credproxy refused the request: its head is not well-formed HTTP/1.1 (or frames its body ambiguously)." };
}

/** A raw HTTP/1.1 response that closes the connection, for the listener and the tunnels. */
export function refusalBytes(refusal: Refusal, options: { head?: boolean } = {}): string {
  const body = refusal.message + "\n";
  const headers: Record<string, string> = {
    ...refusal.headers,
    "X-Credproxy-Deny-Reason": refusal.code,
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "Cache-Control": "no-store",
    Connection: "close",
  };
  const lines = [`HTTP/1.1 ${refusal.status} ${REASONS[refusal.status] ?? "Error"}`, ...Object.entries(headers).map(([n, v]) => `${n}: ${v}`)];
  return lines.join("\r\n") + "\r\n\r\n" + (options.head ? "" : body);
}
