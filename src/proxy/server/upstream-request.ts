/**
 * One request to an upstream, dialled at exactly a checked address: the canonical host goes
 * in the TLS server name (certificate checked against it) and the Host header, the address
 * that passed the destination checks is what the socket connects to, so no second lookup
 * happens. Connect and response-head deadlines end in a typed failure for a 502/504.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest, type RequestOptions as HttpsRequestOptions } from "node:https";
import type { IpAddress } from "../../net/ip-address.ts";
import type { Admitted } from "./admit.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import type { UpstreamProxyRoute } from "./upstream-proxy.ts";

export type UpstreamFailure = { kind: "connect" | "timeout" | "tls" | "reset"; error: Error };

export interface UpstreamCall {
  readonly request: ClientRequest;
  /** The response head, or why there is none. */
  readonly response: Promise<IncomingMessage | UpstreamFailure>;
}

export function upstreamRequest(
  runtime: ProxyRuntime,
  admitted: Admitted,
  options: { tls: boolean; method: string; path: string; headers: OutgoingHttpHeaders; upgrade?: boolean },
): UpstreamCall {
  const { target } = admitted;
  const limits = runtime.state.config.limits;
  const route = runtime.chooseProxy(target, options.tls);
  const request = route ? viaUpstreamProxy(runtime, admitted, route, options) : direct(runtime, admitted, options);
  const response = new Promise<IncomingMessage | UpstreamFailure>((resolve) => {
    let settled = false;
    const settle = (value: IncomingMessage | UpstreamFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(headTimer);
      resolve(value);
    };
    const fail = (kind: UpstreamFailure["kind"], error: Error) => {
      settle({ kind, error });
      request.destroy();
    };
    const headTimer = setTimeout(() => fail("timeout", new Error("no response head in time")), limits.responseHeadTimeoutMs);
    request.once("socket", (socket) => {
      if (!socket.connecting) return;
      const connectTimer = setTimeout(() => fail("timeout", new Error("connect timed out")), limits.connectTimeoutMs);
      socket.once(options.tls ? "secureConnect" : "connect", () => clearTimeout(connectTimer));
      socket.once("close", () => clearTimeout(connectTimer));
    });
    request.once("response", settle);
    request.once("upgrade", (res: IncomingMessage) => settle(res));
    request.once("error", (error: Error & { code?: string }) => settle({ kind: failureKind(error), error }));
  });
  return { request, response };
}

type Options = { tls: boolean; method: string; path: string; headers: OutgoingHttpHeaders; upgrade?: boolean };

/** To the checked address; the certificate is checked against the canonical name. */
function direct(runtime: ProxyRuntime, admitted: Admitted, options: Options): ClientRequest {
  const { target, tenant } = admitted;
  const address = preferredAddress(admitted.addresses);
  const common = { host: address.text, family: address.family, port: target.port, method: options.method, path: options.path, headers: options.headers, setHost: false };
  if (!options.tls) return httpRequest({ ...common, agent: options.upgrade ? false : runtime.agents.http(tenant.name) });
  return httpsRequest({
    ...common,
    agent: options.upgrade ? false : runtime.agents.https(tenant.name),
    ...upstreamTls(runtime, admitted),
  });
}

/**
 * Through the corporate proxy: HTTPS as TLS inside a CONNECT by canonical name, plain HTTP as
 * an absolute-form request to the proxy with its Proxy-Authorization.
 */
function viaUpstreamProxy(runtime: ProxyRuntime, admitted: Admitted, route: UpstreamProxyRoute, options: Options): ClientRequest {
  const { target, tenant } = admitted;
  const limits = runtime.state.config.limits;
  const common = { method: options.method, headers: options.headers, setHost: false };
  if (options.tls) {
    return httpsRequest({
      ...common,
      host: target.host,
      port: target.port,
      path: options.path,
      agent: runtime.agents.chained(tenant.name, route, limits.connectTimeoutMs),
      ...upstreamTls(runtime, admitted),
    });
  }
  const headers = route.authorization ? { ...options.headers, "proxy-authorization": route.authorization } : options.headers;
  const bare = target.kind === "ipv6" ? `[${target.host}]` : target.host;
  return httpRequest({ ...common, headers, host: route.host, port: route.port, path: `http://${target.port === 80 ? bare : target.authority}${options.path}`, agent: false });
}

/**
 * The TLS side of an upstream request: the one shared secure context (node's RequestOptions
 * type lacks `secureContext`, which https.request passes on to tls.connect) and the canonical
 * name as the server name, for SNI and the certificate check.
 */
function upstreamTls(runtime: ProxyRuntime, admitted: Admitted): HttpsRequestOptions {
  const options = { secureContext: runtime.agents.secureContext, ...(admitted.target.kind === "name" ? { servername: admitted.target.host } : {}) };
  return options as HttpsRequestOptions;
}

/** IPv4 first, then the resolver's order: an IPv6 answer often has no route from a container. */
export function preferredAddress(addresses: readonly IpAddress[]): IpAddress {
  return addresses.find((a) => a.family === 4) ?? addresses[0]!;
}

export function failureKind(error: Error & { code?: string }): UpstreamFailure["kind"] {
  const code = error.code ?? "";
  if (/CERT|SSL|TLS|SELF_SIGNED|HOSTNAME|ALTNAME|UNABLE_TO/i.test(code + " " + error.message)) return "tls";
  if (code === "ECONNRESET" || code === "EPIPE") return "reset";
  if (code === "ETIMEDOUT") return "timeout";
  return "connect";
}
