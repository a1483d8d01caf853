/**
 * One request and its response with an upstream, whichever protocol carries it: HTTP/2 when
 * the origin offers it by ALPN (direct HTTPS only), else HTTP/1.1 from the keep-alive pools
 * (also for plain http and through a corporate proxy). The caller streams the request body
 * into `body` and gets the response head, or a typed failure for a 502/504.
 */
import type { ClientHttp2Session, IncomingHttpHeaders } from "node:http2";
import type { OutgoingHttpHeaders } from "node:http";
import { Writable, type Readable } from "node:stream";
import type { HeaderList } from "../forward-headers.ts";
import type { Admitted } from "./admit.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { preferredAddress, upstreamRequest, type UpstreamFailure } from "./upstream-request.ts";

export interface UpstreamResponse {
  readonly status: number;
  readonly statusMessage: string | undefined;
  readonly headers: HeaderList;
  readonly body: Readable;
  /** "1.1" or "2". */
  readonly protocol: string;
}

export interface UpstreamExchange {
  readonly body: Writable;
  abort(): void;
  readonly response: Promise<UpstreamResponse | UpstreamFailure>;
}

export interface ExchangeOptions {
  readonly tls: boolean;
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  /** The request body's length when known before it arrives (the proxy's own HTTP/1.1); undefined from node:http. */
  readonly bodyLength?: number | undefined;
}

export async function openUpstream(runtime: ProxyRuntime, admitted: Admitted, options: ExchangeOptions): Promise<UpstreamExchange> {
  const limits = runtime.state.config.limits;
  if (options.tls && admitted.addresses.length > 0 && runtime.chooseProxy(admitted.target, true) === undefined) {
    const opened = await runtime.agents.h2.session({
      tenant: admitted.tenant.name,
      target: admitted.target,
      address: preferredAddress(admitted.addresses),
      secureContext: runtime.agents.secureContext,
      connectTimeoutMs: limits.connectTimeoutMs,
      idleTimeoutMs: limits.idleTimeoutMs,
    });
    if ("session" in opened) return h2Exchange(opened.session, options, limits.responseHeadTimeoutMs);
    if ("failure" in opened) return failed({ kind: opened.failure, error: opened.error });
  }
  if (options.bodyLength !== undefined && admitted.addresses.length > 0 && runtime.chooseProxy(admitted.target, options.tls) === undefined) return ownH1Exchange(runtime, admitted, options, options.bodyLength);
  return h1Exchange(runtime, admitted, options);
}

/** HTTP/1.1 on the proxy's own client, to the checked address. */
function ownH1Exchange(runtime: ProxyRuntime, admitted: Admitted, options: ExchangeOptions, bodyLength: number): UpstreamExchange {
  const { target, tenant } = admitted;
  const address = preferredAddress(admitted.addresses);
  const servername = options.tls && target.kind === "name" ? target.host : undefined;
  const key = `${tenant.name}\0${address.text}\0${target.port}\0${options.tls ? `tls:${servername ?? ""}` : "plain"}`;
  const h1Target = { key, host: address.text, port: target.port, tls: options.tls, servername, secureContext: runtime.agents.secureContext };
  return runtime.agents.h1.exchange(h1Target, { method: options.method, path: options.path, headers: options.headers, bodyLength }, runtime.state.config.limits);
}

function h1Exchange(runtime: ProxyRuntime, admitted: Admitted, options: ExchangeOptions): UpstreamExchange {
  const call = upstreamRequest(runtime, admitted, options);
  return {
    body: call.request,
    abort: () => call.request.destroy(),
    response: call.response.then((res) => {
      if ("kind" in res) return res;
      const headers: [string, string][] = [];
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
      return { status: res.statusCode ?? 502, statusMessage: res.statusMessage, headers, body: res, protocol: "1.1" };
    }),
  };
}

function h2Exchange(session: ClientHttp2Session, options: ExchangeOptions, headTimeoutMs: number): UpstreamExchange {
  // Transfer-Encoding is HTTP/1.1 framing (a body streamed with placeholders replaced asks for it); HTTP/2 has its frames.
  const { host, "transfer-encoding": _framing, ...rest } = options.headers;
  const stream = session.request({ ":method": options.method, ":path": options.path, ":scheme": "https", ":authority": String(host), ...rest });
  const response = new Promise<UpstreamResponse | UpstreamFailure>((resolve) => {
    const timer = setTimeout(() => {
      resolve({ kind: "timeout", error: new Error("no response head in time") });
      stream.close();
    }, headTimeoutMs);
    stream.once("response", (head: IncomingHttpHeaders) => {
      clearTimeout(timer);
      resolve({ status: Number(head[":status"] ?? 502), statusMessage: undefined, headers: headerPairs(head), body: stream, protocol: "2" });
    });
    stream.once("error", (error: Error) => {
      clearTimeout(timer);
      resolve({ kind: "reset", error });
    });
    stream.once("close", () => {
      clearTimeout(timer);
      resolve({ kind: "reset", error: new Error(`stream closed (code ${stream.rstCode})`) });
    });
  });
  return { body: stream, abort: () => stream.close(), response };
}

function headerPairs(head: IncomingHttpHeaders): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(head)) {
    if (name.startsWith(":") || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, String(v)]);
  }
  return out;
}

function failed(failure: UpstreamFailure): UpstreamExchange {
  return { body: new Writable({ write: (_chunk, _enc, done) => done() }), abort: () => {}, response: Promise.resolve(failure) };
}
