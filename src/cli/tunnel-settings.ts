/**
 * `credproxy tunnel up`'s settings from its flags and, with --config, a tunnel file: flags win
 * key by key (a repeated flag such as --cidr or --tag replaces the file's whole list). Every
 * check here runs before anything touches the system or AWS; a bad flag is a usage error that
 * names it.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseDnsZone } from "../tunnel/dns/dns-zones.ts";
import { DNS_MODES, type DnsMode } from "../tunnel/dns/tunnel-dns.ts";
import { checkTunnelCidrs } from "../tunnel/tunnel-cidrs.ts";
import type { TunnelFile } from "../tunnel/load-tunnel-config.ts";
import { MAX_SESSIONS } from "../tunnel/tunnel-schema.ts";
import { usageError } from "./args.ts";
import { AWS_SESSION_FLAGS, awsSessionSettings, integerFlag, type AwsSessionValues } from "./aws-session-settings.ts";

export const DEFAULT_MTU = 1400;
const COMMAND = "tunnel up";

export const TUNNEL_UP_FLAGS = {
  cidr: { type: "string", multiple: true },
  ...AWS_SESSION_FLAGS,
  mtu: { type: "string" },
  dns: { type: "string", multiple: true },
  "dns-mode": { type: "string" },
  sessions: { type: "string" },
  foreground: { type: "boolean" },
  config: { type: "string", short: "c" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  dev: { type: "boolean" },
} as const;

export interface TunnelUpFlags {
  readonly cidr?: string[] | undefined;
  readonly "instance-id"?: string | undefined;
  readonly tag?: string[] | undefined;
  readonly profile?: string | undefined;
  readonly region?: string | undefined;
  readonly document?: string | undefined;
  readonly "stream-endpoint"?: string | undefined;
  readonly "agent-port"?: string | undefined;
  readonly name?: string | undefined;
  readonly mtu?: string | undefined;
  readonly dns?: string[] | undefined;
  readonly "dns-mode"?: string | undefined;
  readonly sessions?: string | undefined;
}

export interface TunnelUpSettings extends AwsSessionValues {
  readonly cidrs: readonly string[];
  readonly mtu: number;
  /** The zones whose queries go through the tunnel (tunnel-dns.ts); empty: DNS untouched. */
  readonly dns: readonly string[];
  readonly dnsMode: DnsMode;
  /** Striped Port sessions to the agent (--sessions). */
  readonly sessions: number;
}

/** Merges flags over the file (if any) and checks the result. */
export function tunnelUpSettings(flags: TunnelUpFlags, file: TunnelFile | undefined, env: NodeJS.ProcessEnv = process.env): TunnelUpSettings {
  const from = file === undefined ? "" : ` (or in ${file.file})`;
  const cidrTexts = flags.cidr ?? file?.cidrs ?? [];
  if (cidrTexts.length === 0) {
    throw new CredproxyError(ErrorCode.Usage, `${COMMAND}: no --cidr given: name the private ranges to route through the tunnel`, {
      hint: "e.g. credproxy tunnel up --cidr 10.20.0.0/16 --instance-id i-0123456789abcdef0 (or cidrs: in the --config file)",
    });
  }
  const { cidrs, problems } = checkTunnelCidrs(cidrTexts);
  if (problems.length > 0) {
    const first = problems[0]!;
    throw usageError(COMMAND, `--cidr "${cidrTexts[first.index]}"${flags.cidr ? "" : from}: ${first.problem}`);
  }

  const tags = flags.tag !== undefined ? parseTags(flags.tag, COMMAND) : flags["instance-id"] !== undefined ? undefined : file?.tags;
  const instanceId = flags["instance-id"] ?? (flags.tag !== undefined ? undefined : file?.instanceId);
  const session = awsSessionSettings(
    {
      instanceId,
      tags,
      region: flags.region ?? file?.region,
      profile: flags.profile ?? file?.profile,
      document: flags.document ?? file?.document,
      streamEndpoint: flags["stream-endpoint"] ?? file?.streamEndpoint,
      agentPortFlag: flags["agent-port"],
      agentPort: file?.agentPort,
      name: flags.name ?? file?.name,
    },
    {
      command: COMMAND,
      from,
      missingInstanceHint: 'e.g. --instance-id i-0123456789abcdef0, or --tag Name=bastion (run "credproxy help tunnel up" for usage)',
      regionSource: flags.region === undefined ? " (from the file, AWS_REGION or AWS_DEFAULT_REGION)" : "",
    },
    env,
  );
  return {
    cidrs: cidrs.map((c) => c.text),
    ...session,
    mtu: integerFlag(COMMAND, "--mtu", flags.mtu, 576, 65535) ?? file?.mtu ?? DEFAULT_MTU,
    ...dnsSettings(flags, file, from),
    sessions: integerFlag(COMMAND, "--sessions", flags.sessions, 1, MAX_SESSIONS) ?? file?.sessions ?? 1,
  };
}

function dnsSettings(flags: TunnelUpFlags, file: TunnelFile | undefined, from: string): { dns: string[]; dnsMode: DnsMode } {
  const zones: string[] = [];
  for (const text of flags.dns ?? file?.dns ?? []) {
    const zone = parseDnsZone(text);
    if ("problem" in zone) throw usageError(COMMAND, `--dns "${text}"${flags.dns ? "" : from}: ${zone.problem}`);
    if (!zones.includes(zone.zone)) zones.push(zone.zone);
  }
  const mode = flags["dns-mode"] ?? file?.dnsMode ?? "auto";
  if (!(DNS_MODES as readonly string[]).includes(mode)) throw usageError(COMMAND, `invalid --dns-mode "${mode}" (one of ${DNS_MODES.join(", ")})`);
  if (flags["dns-mode"] !== undefined && zones.length === 0) throw usageError(COMMAND, "--dns-mode needs --dns ZONE (the zones to resolve through the tunnel)");
  return { dns: zones, dnsMode: mode as DnsMode };
}

/** `--tag KEY=VALUE` values (also `tunnel socks`'s): one value per key. */
export function parseTags(values: readonly string[], command: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf("=");
    if (eq <= 0) throw usageError(command, `--tag "${value}" is not KEY=VALUE (e.g. --tag Name=bastion)`);
    const key = value.slice(0, eq);
    if (Object.hasOwn(tags, key)) throw usageError(command, `--tag ${key} is given twice; an instance has one value per tag key`);
    tags[key] = value.slice(eq + 1);
  }
  return tags;
}

/** The tunnel's name: --name, else the instance id, else the tag values (`Name=bastion` gives bastion). */
export function tunnelName(settings: Pick<TunnelUpSettings, "name" | "instanceId" | "tags">): string {
  if (settings.name !== undefined) return settings.name;
  if (settings.instanceId !== undefined) return settings.instanceId;
  const fromTags = Object.values(settings.tags ?? {})
    .join("-")
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 64);
  return fromTags === "" ? "tunnel" : fromTags;
}
