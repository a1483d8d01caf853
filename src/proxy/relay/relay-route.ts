/**
 * Which relay or MCP server an origin-form request on the proxy port asks for, and for which
 * run. Proxy-Authorization belongs to absolute-form proxy requests, so a relay request
 * carries the run token itself, in one of two places:
 *
 * - the `X-Credproxy-Token` header (`/relay/NAME/…`, `/mcp/NAME`): preferred, as the token
 *   stays out of URLs, which clients print and log. Not `Authorization`: that header is the
 *   upstream's (the credential usually replaces it, and MCP clients use it for OAuth);
 * - the path, `/relay/TOKEN/NAME/…` or `/mcp/TOKEN/NAME`, for clients that take only a URL.
 *
 * Without the header, on a proxy that needs a token (runs_dir or token), the first segment
 * is the token; a proxy that needs none (loopback, one tenant) reads `/KIND/NAME/…`. Tokens
 * are compared like Proxy-Authorization's: every one, in constant time.
 */
import type { ProxyConfig, RelaySpec, Tenant } from "../config/proxy-config.ts";
import { selectByExactToken } from "../proxy-auth.ts";
import type { Refusal } from "../refusal.ts";

export type RelayKind = "relay" | "mcp";

export const TOKEN_HEADER = "x-credproxy-token";

export interface RelayRoute {
  readonly kind: RelayKind;
  readonly tenant: Tenant;
  readonly spec: RelaySpec;
  /** The path that names this entry to the client (with the token when it came in the path), e.g. /mcp/NAME. */
  readonly prefix: string;
  /** What follows the name, percent-encoding kept: "" or "/…". */
  readonly rest: string;
  /** "" or "?…", as sent. */
  readonly query: string;
}

const ROUTE = /^\/(relay|mcp)(?:\/([^?#]*))?(\?[^#]*)?$/;

/** undefined: not a relay path. */
export function relayRoute(url: string, tokenHeader: string | undefined, config: ProxyConfig, runs: readonly Tenant[]): RelayRoute | Refusal | undefined {
  if (!url.startsWith("/relay") && !url.startsWith("/mcp")) return undefined;
  const match = ROUTE.exec(url);
  if (!match) return undefined;
  const kind = match[1] as RelayKind;
  const segments = (match[2] ?? "").split("/");
  const needsToken = config.runsDir !== undefined || config.token !== undefined;
  const tokenInPath = needsToken && tokenHeader === undefined;
  if (tokenInPath && segments.length < 2) return tokenRequired(kind);
  const [tokenSegment, name, restAt] = tokenInPath ? [segments[0]!, segments[1]!, 2] : [undefined, segments[0]!, 1];
  const tenant = needsToken ? tenantOf(config, runs, tokenHeader ?? decoded(tokenSegment!)) : config.defaultTenant;
  if (tenant === undefined) return badToken(kind, tokenHeader !== undefined);
  const list = kind === "relay" ? tenant.relays : tenant.mcpServers;
  const spec = list.find((s) => s.name === name);
  if (spec === undefined) return unknownName(kind, name, list, tenant);
  const rest = segments.slice(restAt);
  if (kind === "relay" && rest.some(isDotSegment)) return dotSegment();
  return {
    kind,
    tenant,
    spec,
    prefix: `/${kind}/${tokenSegment === undefined ? "" : `${tokenSegment}/`}${name}`,
    rest: rest.length === 0 ? "" : `/${rest.join("/")}`,
    query: match[3] ?? "",
  };
}

function tenantOf(config: ProxyConfig, runs: readonly Tenant[], token: string | undefined): Tenant | undefined {
  if (token === undefined) return undefined;
  if (config.runsDir !== undefined) return selectByExactToken(runs, token);
  return selectByExactToken([{ token: config.token }], token) ? config.defaultTenant : undefined;
}

function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** `.` and `..`, also percent-encoded: a relay reaches below its URL's path, never above it. */
function isDotSegment(segment: string): boolean {
  return /^(?:\.|%2e){1,2}$/i.test(segment);
}

function dotSegment(): Refusal {
  return { status: 400, code: "relay-dot-segment", message: "credproxy refused the request: a relay path may not contain . or .. segments; a relay reaches only below its URL's path." };
}

const NOUN: Record<RelayKind, string> = { relay: "relay", mcp: "MCP server" };

function tokenRequired(kind: RelayKind): Refusal {
  return {
    status: 403,
    code: "run-token-required",
    message: `credproxy needs the run token for /${kind}/: send it in the X-Credproxy-Token header, or put it in the path, /${kind}/TOKEN/NAME (\`credproxy proxy env --run NAME\` prints the token).`,
  };
}

function badToken(kind: RelayKind, inHeader: boolean): Refusal {
  const where = inHeader ? "the X-Credproxy-Token header" : `the path (/${kind}/TOKEN/NAME)`;
  return { status: 403, code: "bad-run-token", message: `credproxy refused the request: the run token in ${where} matches no run.` };
}

function unknownName(kind: RelayKind, name: string, list: readonly RelaySpec[], tenant: Tenant): Refusal {
  const shown = JSON.stringify(name.slice(0, 64));
  const known = list.length === 0 ? `it has none` : `it has ${list.length}: ${list.map((s) => s.name).slice(0, 10).join(", ")}`;
  const key = kind === "relay" ? "relays" : "mcp";
  return { status: 404, code: `unknown-${kind}`, message: `credproxy has no ${NOUN[kind]} named ${shown} for this run (${known}); add it to ${key}: in ${tenant.source}.` };
}
