/**
 * `credproxy agent`'s settings from its flags, all checked before anything touches the system:
 * a bad value is a usage error that names the flag, the value and what would be right.
 */
import { DEFAULT_POOL, createAddressPool } from "../agent/address-pool.ts";
import { checkIpv6Pool } from "../agent/ipv6-pool.ts";
import type { AgentMode } from "../agent/agent-server.ts";
import type { AgentSettings } from "../agent/run-agent.ts";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { parseIp } from "../net/ip-address.ts";
import { usageError } from "./args.ts";
import { LOG_OUTPUT_FLAGS } from "./log-output.ts";

export const AGENT_COMMAND = "agent";
export const DEFAULT_LISTEN = "127.0.0.1:7860";

export const AGENT_FLAGS = {
  listen: { type: "string" },
  pool: { type: "string" },
  "allow-cidr": { type: "string", multiple: true },
  pool6: { type: "string" },
  "no-ipv6": { type: "boolean" },
  mode: { type: "string" },
  "dns-upstream": { type: "string" },
  "no-dns-forward": { type: "boolean" },
  "log-level": { type: "string" },
  check: { type: "boolean" },
  ...LOG_OUTPUT_FLAGS,
} as const;

export interface AgentFlags {
  readonly listen?: string | undefined;
  readonly pool?: string | undefined;
  readonly "allow-cidr"?: string[] | undefined;
  readonly pool6?: string | undefined;
  readonly "no-ipv6"?: boolean | undefined;
  readonly mode?: string | undefined;
  readonly "dns-upstream"?: string | undefined;
  readonly "no-dns-forward"?: boolean | undefined;
}

export function agentSettings(flags: AgentFlags): AgentSettings {
  const { host, port } = parseListen(flags.listen ?? DEFAULT_LISTEN);
  const poolText = flags.pool ?? DEFAULT_POOL;
  // The pool's own checks (IPv4, room for a pair) give the message; the error already names --pool.
  const pool = createAddressPool(poolText).cidr;
  const allowCidrs = flags["allow-cidr"]?.map(allowCidr);
  if (flags.pool6 !== undefined && flags["no-ipv6"] === true) throw usageError(AGENT_COMMAND, "--pool6 and --no-ipv6 contradict each other; give one");
  const pool6 = flags.pool6 === undefined ? undefined : checkIpv6Pool(flags.pool6).text;
  if (flags["no-dns-forward"] === true && flags["dns-upstream"] !== undefined) throw usageError(AGENT_COMMAND, "give either --dns-upstream or --no-dns-forward, not both");
  const dnsUpstream = flags["no-dns-forward"] === true ? "off" : flags["dns-upstream"] === undefined ? undefined : parseDnsUpstream(flags["dns-upstream"]);
  return { host, port, pool, allowCidrs, dnsUpstream, mode: agentMode(flags.mode), ...(pool6 === undefined ? {} : { pool6 }), ...(flags["no-ipv6"] === true ? { ipv6: false } : {}) };
}

/** `10.0.0.2`, `10.0.0.2:5353`, `[fd00::2]:53` or `fd00::2`. */
function parseDnsUpstream(text: string): { host: string; port: number } {
  const bad = (why: string) => usageError(AGENT_COMMAND, `--dns-upstream "${text}": ${why}; give the resolver's IP address, e.g. --dns-upstream 169.254.169.253 (or HOST:PORT)`);
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text);
  const host = match ? (match[1] ?? match[2]!) : text;
  const ip = parseIp(host);
  if (ip === undefined) throw bad(match ? `"${host}" is not an IP address` : "not an address");
  const port = match?.[3] === undefined ? 53 : Number(match[3]);
  if (port < 1 || port > 65535) throw bad(`port ${port} is not from 1 to 65535`);
  return { host, port };
}

/** `--mode tun` (the default: a TUN per client, root) or `--mode socks` (streams only, no privilege). */
export function agentMode(text: string | undefined): AgentMode {
  if (text === undefined || text === "tun" || text === "socks") return text ?? "tun";
  throw usageError(AGENT_COMMAND, `--mode "${text}": write tun (a TUN device per client; needs root) or socks (the agent dials TCP streams itself for \`credproxy tunnel socks\`; no root)`);
}

/** `127.0.0.1:7860`, `[::1]:7860` or `localhost:7860`. */
function parseListen(text: string): { host: string; port: number } {
  const bad = (why: string) => usageError(AGENT_COMMAND, `--listen "${text}": ${why}; write HOST:PORT, e.g. --listen ${DEFAULT_LISTEN} (or [::1]:7860)`);
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) throw bad("not HOST:PORT");
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (port > 65535) throw bad(`port ${port} is above 65535`);
  if (host !== "localhost") {
    const ip = parseIp(host);
    if (ip === undefined) throw bad(`"${host}" is not an IP address`);
    if (match[1] !== undefined && ip.family !== 6) throw bad(`brackets are for IPv6 addresses only`);
    if (match[2] !== undefined && ip.family === 6) throw bad(`an IPv6 address needs brackets`);
  }
  return { host, port };
}

function allowCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  if ("problem" in cidr) throw usageError(AGENT_COMMAND, `--allow-cidr "${text}": ${cidr.problem}`);
  return cidr;
}
