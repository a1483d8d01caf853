/**
 * `credproxy tunnel up`'s settings from its flags and, with --config, a tunnel file: flags win
 * key by key (a repeated flag such as --cidr or --tag replaces the file's whole list). Every
 * check here runs before anything touches the system or AWS; a bad flag is a usage error that
 * names it.
 */
import { REGION_PATTERN } from "../config/services-schema.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { STREAM_ENDPOINT_PATTERN } from "../ssm/stream-url.ts";
import { parseDnsZone } from "../tunnel/dns/dns-zones.ts";
import { DNS_MODES, type DnsMode } from "../tunnel/dns/tunnel-dns.ts";
import { checkTunnelCidrs } from "../tunnel/tunnel-cidrs.ts";
import type { TunnelFile } from "../tunnel/load-tunnel-config.ts";
import { DEFAULT_AGENT_PORT, DEFAULT_DOCUMENT, INSTANCE_ID_PATTERN, MAX_SESSIONS, TUNNEL_NAME_PATTERN } from "../tunnel/tunnel-schema.ts";
import { usageError } from "./args.ts";
import { awsRegion } from "./env.ts";

export const DEFAULT_MTU = 1400;
const COMMAND = "tunnel up";

export const TUNNEL_UP_FLAGS = {
  cidr: { type: "string", multiple: true },
  "instance-id": { type: "string" },
  tag: { type: "string", multiple: true },
  profile: { type: "string" },
  region: { type: "string" },
  document: { type: "string" },
  "stream-endpoint": { type: "string" },
  "agent-port": { type: "string" },
  name: { type: "string" },
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

export interface TunnelUpSettings {
  readonly cidrs: readonly string[];
  readonly instanceId: string | undefined;
  readonly tags: Readonly<Record<string, string>> | undefined;
  readonly region: string;
  readonly profile: string | undefined;
  readonly document: string;
  /** One more StreamUrl host to accept besides the ssmmessages hosts. */
  readonly streamEndpoint: string | undefined;
  readonly agentPort: number;
  /** Undefined: the instance id, once known. */
  readonly name: string | undefined;
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
  if (instanceId !== undefined && tags !== undefined) {
    throw usageError(COMMAND, "give either --instance-id or --tag, not both");
  }
  if (instanceId === undefined && tags === undefined) {
    throw new CredproxyError(ErrorCode.Usage, `${COMMAND}: no instance selected: give --instance-id ID or one or more --tag KEY=VALUE${from}`, {
      hint: 'e.g. --instance-id i-0123456789abcdef0, or --tag Name=bastion (run "credproxy help tunnel up" for usage)',
    });
  }
  if (instanceId !== undefined && !new RegExp(INSTANCE_ID_PATTERN).test(instanceId)) {
    throw usageError(COMMAND, `invalid --instance-id "${instanceId}" (an instance id such as i-0123456789abcdef0)`);
  }

  const region = awsRegion(flags.region ?? file?.region, env);
  if (!new RegExp(REGION_PATTERN).test(region)) throw usageError(COMMAND, `invalid region "${region}"${flags.region === undefined ? " (from the file, AWS_REGION or AWS_DEFAULT_REGION)" : ""}; use a region name such as us-east-1`);
  const name = flags.name ?? file?.name;
  if (name !== undefined && !new RegExp(TUNNEL_NAME_PATTERN).test(name)) throw usageError(COMMAND, `invalid --name "${name}" (letters, digits, _ . - and at most 64, starting with a letter or digit)`);
  const document = flags.document ?? file?.document ?? DEFAULT_DOCUMENT;
  if (!/^[A-Za-z0-9_.:/-]{3,128}$/.test(document)) throw usageError(COMMAND, `invalid --document "${document}" (a Session Manager document name such as AWS-StartSSHSession)`);
  const streamEndpoint = flags["stream-endpoint"] ?? file?.streamEndpoint;
  if (streamEndpoint !== undefined && !new RegExp(STREAM_ENDPOINT_PATTERN).test(streamEndpoint)) {
    throw usageError(COMMAND, `invalid --stream-endpoint "${streamEndpoint}" (a host name or host:port such as ssm-stream.example.internal, without wss://)`);
  }
  return {
    cidrs: cidrs.map((c) => c.text),
    instanceId,
    tags,
    region,
    profile: flags.profile ?? file?.profile,
    document,
    streamEndpoint: streamEndpoint?.toLowerCase(),
    agentPort: integerFlag("--agent-port", flags["agent-port"], 1, 65535) ?? file?.agentPort ?? DEFAULT_AGENT_PORT,
    name,
    mtu: integerFlag("--mtu", flags.mtu, 576, 65535) ?? file?.mtu ?? DEFAULT_MTU,
    ...dnsSettings(flags, file, from),
    sessions: integerFlag("--sessions", flags.sessions, 1, MAX_SESSIONS) ?? file?.sessions ?? 1,
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

function integerFlag(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw usageError(COMMAND, `invalid ${flag} "${text}" (a whole number from ${min} to ${max})`);
  return value;
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
