/**
 * Chaining through a corporate proxy: upstream_proxy from proxy.yaml, else HTTPS_PROXY /
 * HTTP_PROXY (either case) and NO_PROXY from the proxy's own environment. Basic credentials
 * in the proxy URL's userinfo go in Proxy-Authorization on the CONNECT (or the absolute-form
 * request) to that proxy, and nowhere else; they are never logged.
 *
 * NO_PROXY follows curl: `*` is everything; `example.com` and `.example.com` match the host
 * and its subdomains; `host:port` only that port; an IP or CIDR matches an IP-literal target.
 */
import { connect, type Socket } from "node:net";
import { parseCidr, cidrContains, type Cidr } from "../../net/cidr.ts";
import { parseIp } from "../../net/ip-address.ts";
import type { CanonicalTarget } from "../canonical-host.ts";
import type { UpstreamProxySetting } from "../config/proxy-config.ts";
import { readFirstHead } from "./read-first-head.ts";

export interface UpstreamProxyRoute {
  readonly host: string;
  readonly port: number;
  /** `Basic …` from the URL's userinfo, for Proxy-Authorization. */
  readonly authorization: string | undefined;
  /** host:port, for logs (never the userinfo). */
  readonly authority: string;
}

export type ProxyChooser = (target: CanonicalTarget, tls: boolean) => UpstreamProxyRoute | undefined;

export function upstreamProxyChooser(setting: UpstreamProxySetting, env: Readonly<Record<string, string | undefined>>): ProxyChooser {
  if (setting.kind === "none") return () => undefined;
  if (setting.kind === "url") {
    const route = routeOf(setting.url);
    const bypass = noProxyMatcher(setting.noProxy);
    return (target) => (bypass(target) ? undefined : route);
  }
  const https = envUrl(env, "https_proxy");
  const http = envUrl(env, "http_proxy");
  const bypass = noProxyMatcher((env.no_proxy ?? env.NO_PROXY ?? "").split(","));
  return (target, tls) => {
    const route = tls ? https : http;
    return route === undefined || bypass(target) ? undefined : route;
  };
}

function envUrl(env: Readonly<Record<string, string | undefined>>, name: string): UpstreamProxyRoute | undefined {
  const text = env[name] || env[name.toUpperCase()];
  if (!text) return undefined;
  try {
    const url = new URL(text.includes("://") ? text : `http://${text}`);
    return url.protocol === "http:" && url.hostname !== "" ? routeOf(url) : undefined;
  } catch {
    return undefined;
  }
}

function routeOf(url: URL): UpstreamProxyRoute {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? 80 : Number(url.port);
  const user = decodeURIComponent(url.username);
  const authorization = url.username || url.password ? `Basic ${Buffer.from(`${user}:${decodeURIComponent(url.password)}`).toString("base64")}` : undefined;
  return { host, port, authorization, authority: `${url.hostname}:${port}` };
}

export function noProxyMatcher(entries: readonly string[]): (target: CanonicalTarget) => boolean {
  const rules = entries.map((e) => e.trim().toLowerCase()).filter((e) => e !== "");
  if (rules.includes("*")) return () => true;
  const cidrs: Cidr[] = [];
  const names: { suffix: string; port: number | undefined }[] = [];
  for (const rule of rules) {
    const cidr = ruleCidr(rule);
    if (cidr) cidrs.push(cidr);
    const name = cidr ? undefined : /^\.?([^:/]+?)\.?(?::(\d+))?$/.exec(rule);
    if (name) names.push({ suffix: name[1]!, port: name[2] === undefined ? undefined : Number(name[2]) });
  }
  return (target) => {
    const ip = target.kind === "name" ? undefined : parseIp(target.host);
    if (ip && cidrs.some((c) => cidrContains(c, ip))) return true;
    return names.some((n) => (n.port === undefined || n.port === target.port) && (target.host === n.suffix || target.host.endsWith(`.${n.suffix}`)));
  };
}

/** `10.0.0.0/8`, `192.168.1.7`, `::1` or `[::1]` as a CIDR; a name is not one. */
function ruleCidr(rule: string): Cidr | undefined {
  const bare = rule.replace(/^\[(.*)\]$/, "$1");
  const [address, prefix] = bare.split("/", 2) as [string, string | undefined];
  const looksIp = /^\d{1,3}(\.\d{1,3}){3}$/.test(address) || address.includes(":");
  if (!looksIp) return undefined;
  const cidr = parseCidr(`${address}/${prefix ?? (address.includes(":") ? 128 : 32)}`);
  return "problem" in cidr ? undefined : cidr;
}

export type TunnelResult = { socket: Socket } | { failure: "connect" | "timeout" | "refused"; status?: number };

/** A CONNECT through the upstream proxy to the canonical target; the socket once it answered 2xx. */
export function tunnelThrough(route: UpstreamProxyRoute, authority: string, timeoutMs: number): Promise<TunnelResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: route.host, port: route.port });
    const timer = setTimeout(() => fail("timeout"), timeoutMs);
    const fail = (failure: "connect" | "timeout" | "refused", status?: number) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(status === undefined ? { failure } : { failure, status });
    };
    const onError = () => fail("connect");
    socket.once("error", onError);
    socket.once("connect", async () => {
      const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
      if (route.authorization) lines.push(`Proxy-Authorization: ${route.authorization}`);
      socket.write(lines.join("\r\n") + "\r\n\r\n");
      const answer = await readFirstHead(socket, { maxBytes: 16 * 1024, timeoutMs });
      if ("error" in answer) return fail(answer.error === "timeout" ? "timeout" : answer.error === "closed" ? "connect" : "refused");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer.head)?.[1] ?? 0);
      if (status < 200 || status > 299) return fail("refused", status);
      clearTimeout(timer);
      socket.off("error", onError);
      if (answer.rest.length > 0) socket.unshift(answer.rest);
      resolve({ socket });
    });
  });
}
