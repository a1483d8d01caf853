/**
 * The checks of proxy.yaml's top-level keys that a schema cannot make: CA files come in pairs,
 * token and runs_dir exclude each other, tokens are hard to guess, upstream_proxy is an
 * http:// proxy URL, and a listener others can reach is never open to everyone.
 */
import type { Problem } from "../../config/problems.ts";
import type { KeyPath } from "../../config/key-path.ts";
import { tokenStrength } from "../../config/secret-strength.ts";
import { parseIp } from "../../net/ip-address.ts";
import { classifyAddress } from "../address-class.ts";
import type { UpstreamProxySetting } from "./proxy-config.ts";
import type { RawProxyConfig } from "./load-proxy-config.ts";

export function topLevelProblems(raw: RawProxyConfig): Problem[] {
  const problems: Problem[] = [];
  if ((raw.tls.ca_cert === undefined) !== (raw.tls.ca_key === undefined)) {
    const [has, lacks] = raw.tls.ca_cert === undefined ? ["ca_key", "ca_cert"] : ["ca_cert", "ca_key"];
    problems.push({ path: ["tls", has], message: `needs tls.${lacks} beside it (a CA is its certificate and its key), or remove both to use a generated CA` });
  }
  if (raw.token !== undefined && raw.runs_dir !== undefined) {
    problems.push({ path: ["token"], message: "cannot be set with runs_dir: with runs each run file has its own token" });
  }
  problems.push(...tokenProblems(raw.token, ["token"]));
  const upstream = raw.upstream_proxy;
  if (upstream !== undefined && upstream !== "none" && upstreamUrl(upstream) === undefined) {
    problems.push({ path: ["upstream_proxy"], at: "value", message: "must be an http:// proxy URL with a host and port (e.g. http://proxy.corp:8080), or none" });
  }
  return problems;
}

/** A listener beyond loopback must ask for a token: without runs_dir or token anyone on the network could use the credentials. */
export function listenProblems(raw: Pick<RawProxyConfig, "listen" | "token" | "runs_dir">, flagged = false): Problem[] {
  if (isLoopbackHost(raw.listen.host) || raw.token !== undefined || raw.runs_dir !== undefined) return [];
  return [{
    path: ["listen", "host"],
    at: "value",
    message: `${raw.listen.host}${flagged ? " (--listen)" : ""} can be reached from other machines, and the proxy would hand its credentials to anyone there; set token (or runs_dir), or listen on 127.0.0.1`,
  }];
}

export function tokenProblems(token: string | undefined, path: KeyPath): Problem[] {
  const verdict = token === undefined ? undefined : tokenStrength(token);
  return verdict?.level === "refused" ? [{ path, at: "value", message: verdict.message! }] : [];
}

export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  const address = parseIp(host.replace(/^\[(.*)\]$/, "$1"));
  return address !== undefined && classifyAddress(address).class === "loopback";
}

export function upstreamProxySetting(raw: Pick<RawProxyConfig, "upstream_proxy" | "no_proxy">): UpstreamProxySetting {
  if (raw.upstream_proxy === undefined) return { kind: "environment" };
  if (raw.upstream_proxy === "none") return { kind: "none" };
  return { kind: "url", url: upstreamUrl(raw.upstream_proxy)!, noProxy: raw.no_proxy };
}

function upstreamUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    if (url.protocol !== "http:" || url.hostname === "" || (url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) return undefined;
    return url;
  } catch {
    return undefined;
  }
}
