/**
 * `credproxy tunnel socks`'s settings: where to listen (SOCKS5 and HTTP CONNECT on one port),
 * the -L static forwards, and the instance and session settings `tunnel up` takes (minus CIDRs
 * and MTU, which only a TUN has). Every check runs before anything touches AWS.
 */
import { usageError } from "./args.ts";
import { AWS_SESSION_FLAGS, awsSessionSettings, type AwsSessionValues } from "./aws-session-settings.ts";
import { parseListen } from "./commands/proxy-flags.ts";
import { parseTags } from "./tunnel-settings.ts";

const COMMAND = "tunnel socks";
export const DEFAULT_SOCKS_LISTEN = "127.0.0.1:1080";

export const TUNNEL_SOCKS_FLAGS = {
  listen: { type: "string" },
  forward: { type: "string", multiple: true, short: "L" },
  "no-proxy": { type: "boolean" },
  ...AWS_SESSION_FLAGS,
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

/** The session part is `tunnel up`'s, so openAwsTunnel's lookups are shared. */
export interface TunnelSocksSettings extends AwsSessionValues {
  /** Undefined with --no-proxy (forwards only). */
  readonly listen: { readonly host: string; readonly port: number } | undefined;
  readonly forwards: readonly StaticForward[];
}

export function tunnelSocksSettings(flags: TunnelSocksFlags, env: NodeJS.ProcessEnv = process.env): TunnelSocksSettings {
  const listen = flags["no-proxy"] === true ? undefined : parseListen(COMMAND, flags.listen ?? DEFAULT_SOCKS_LISTEN);
  const forwards = (flags.forward ?? []).map(parseForward);
  if (listen === undefined && forwards.length === 0) throw usageError(COMMAND, "--no-proxy with no -L forward leaves nothing to listen on; add -L LOCAL:HOST:PORT");
  const session = awsSessionSettings(
    {
      instanceId: flags["instance-id"],
      tags: flags.tag === undefined ? undefined : parseTags(flags.tag, COMMAND),
      region: flags.region,
      profile: flags.profile,
      document: flags.document,
      streamEndpoint: flags["stream-endpoint"],
      agentPortFlag: flags["agent-port"],
      agentPort: undefined,
      name: flags.name,
    },
    { command: COMMAND, from: "", missingInstanceHint: "e.g. credproxy tunnel socks --instance-id i-0123456789abcdef0 (the instance runs credproxy agent --mode socks)", regionSource: "" },
    env,
  );
  return { listen, forwards, ...session };
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
