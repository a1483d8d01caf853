/**
 * `credproxy tunnel socks`'s settings: where to listen (SOCKS5 and HTTP CONNECT on one port),
 * the -L static forwards, and the instance and session settings `tunnel up` takes (minus CIDRs
 * and MTU, which only a TUN has). Every check runs before anything touches AWS.
 */
import { REGION_PATTERN } from "../config/services-schema.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { STREAM_ENDPOINT_PATTERN } from "../ssm/stream-url.ts";
import { DEFAULT_AGENT_PORT, DEFAULT_DOCUMENT, INSTANCE_ID_PATTERN, TUNNEL_NAME_PATTERN } from "../tunnel/tunnel-schema.ts";
import { usageError } from "./args.ts";
import { parseListen } from "./commands/proxy-flags.ts";
import { awsRegion } from "./env.ts";
import { parseTags, type TunnelUpSettings } from "./tunnel-settings.ts";

const COMMAND = "tunnel socks";
export const DEFAULT_SOCKS_LISTEN = "127.0.0.1:1080";

export const TUNNEL_SOCKS_FLAGS = {
  listen: { type: "string" },
  forward: { type: "string", multiple: true, short: "L" },
  "no-proxy": { type: "boolean" },
  "instance-id": { type: "string" },
  tag: { type: "string", multiple: true },
  profile: { type: "string" },
  region: { type: "string" },
  document: { type: "string" },
  "stream-endpoint": { type: "string" },
  "agent-port": { type: "string" },
  name: { type: "string" },
  foreground: { type: "boolean" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  dev: { type: "boolean" },
} as const;

export interface TunnelSocksFlags {
  readonly listen?: string | undefined;
  readonly forward?: string[] | undefined;
  readonly "no-proxy"?: boolean | undefined;
  readonly "instance-id"?: string | undefined;
  readonly tag?: string[] | undefined;
  readonly profile?: string | undefined;
  readonly region?: string | undefined;
  readonly document?: string | undefined;
  readonly "stream-endpoint"?: string | undefined;
  readonly "agent-port"?: string | undefined;
  readonly name?: string | undefined;
}

/** `-L [BIND:]PORT:HOST:PORT`: connections to BIND:PORT here go to HOST:PORT as the agent sees it. */
export interface StaticForward {
  readonly bindHost: string;
  readonly bindPort: number;
  readonly host: string;
  readonly port: number;
  /** As given, for status. */
  readonly text: string;
}

/** The session part is `tunnel up`'s shape (cidrs empty, mtu unused), so openAwsTunnel's lookups are shared. */
export interface TunnelSocksSettings extends Omit<TunnelUpSettings, "cidrs" | "mtu" | "sessions" | "dns" | "dnsMode"> {
  /** Undefined with --no-proxy (forwards only). */
  readonly listen: { readonly host: string; readonly port: number } | undefined;
  readonly forwards: readonly StaticForward[];
}

export function tunnelSocksSettings(flags: TunnelSocksFlags, env: NodeJS.ProcessEnv = process.env): TunnelSocksSettings {
  const listen = flags["no-proxy"] === true ? undefined : parseListen(COMMAND, flags.listen ?? DEFAULT_SOCKS_LISTEN);
  const forwards = (flags.forward ?? []).map(parseForward);
  if (listen === undefined && forwards.length === 0) throw usageError(COMMAND, "--no-proxy with no -L forward leaves nothing to listen on; add -L LOCAL:HOST:PORT");
  const tags = flags.tag === undefined ? undefined : parseTags(flags.tag, COMMAND);
  const instanceId = flags["instance-id"];
  if (instanceId !== undefined && tags !== undefined) throw usageError(COMMAND, "give either --instance-id or --tag, not both");
  if (instanceId === undefined && tags === undefined) {
    throw new CredproxyError(ErrorCode.Usage, `${COMMAND}: no instance selected: give --instance-id ID or one or more --tag KEY=VALUE`, {
      hint: "e.g. credproxy tunnel socks --instance-id i-0123456789abcdef0 (the instance runs credproxy agent --mode socks)",
    });
  }
  if (instanceId !== undefined && !new RegExp(INSTANCE_ID_PATTERN).test(instanceId)) throw usageError(COMMAND, `invalid --instance-id "${instanceId}" (an instance id such as i-0123456789abcdef0)`);
  const region = awsRegion(flags.region, env);
  if (!new RegExp(REGION_PATTERN).test(region)) throw usageError(COMMAND, `invalid region "${region}"; use a region name such as us-east-1`);
  const name = flags.name;
  if (name !== undefined && !new RegExp(TUNNEL_NAME_PATTERN).test(name)) throw usageError(COMMAND, `invalid --name "${name}" (letters, digits, _ . - and at most 64, starting with a letter or digit)`);
  const document = flags.document ?? DEFAULT_DOCUMENT;
  if (!/^[A-Za-z0-9_.:/-]{3,128}$/.test(document)) throw usageError(COMMAND, `invalid --document "${document}" (a Session Manager document name such as AWS-StartSSHSession)`);
  const streamEndpoint = flags["stream-endpoint"];
  if (streamEndpoint !== undefined && !new RegExp(STREAM_ENDPOINT_PATTERN).test(streamEndpoint)) {
    throw usageError(COMMAND, `invalid --stream-endpoint "${streamEndpoint}" (a host name or host:port such as ssm-stream.example.internal, without wss://)`);
  }
  const portText = flags["agent-port"];
  if (portText !== undefined && (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)) {
    throw usageError(COMMAND, `invalid --agent-port "${portText}" (a whole number from 1 to 65535)`);
  }
  return { listen, forwards, instanceId, tags, region, profile: flags.profile, document, streamEndpoint: streamEndpoint?.toLowerCase(), agentPort: portText === undefined ? DEFAULT_AGENT_PORT : Number(portText), name };
}

/** `5432:db.internal:5432`, `127.0.0.2:5432:10.0.1.5:5432`, `[::1]:5432:[fd00::5]:5432`. */
export function parseForward(text: string): StaticForward {
  const bad = (why: string) =>
    usageError(COMMAND, `-L "${text}": ${why}; write -L [BIND:]PORT:HOST:PORT, e.g. -L 5432:db.internal:5432 (BIND defaults to 127.0.0.1)`);
  const part = String.raw`(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+)`;
  const match = new RegExp(String.raw`^(?:${part}:)?(\d{1,5}):${part}:(\d{1,5})$`).exec(text);
  if (!match) throw bad("not [BIND:]PORT:HOST:PORT");
  const unbracket = (s: string) => (s.startsWith("[") ? s.slice(1, -1) : s);
  const bindPort = Number(match[2]);
  const port = Number(match[4]);
  if (bindPort > 65535 || port < 1 || port > 65535) throw bad("ports are 1..65535 (the local one may be 0 for a free port)");
  const host = unbracket(match[3]!);
  if (!/^[A-Za-z0-9_.:-]{1,255}$/.test(host)) throw bad(`"${host}" is not a host name or address`);
  return { bindHost: match[1] === undefined ? "127.0.0.1" : unbracket(match[1]), bindPort, host, port, text };
}
