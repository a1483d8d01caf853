/**
 * The agent flags `credproxy agent install` writes into the unit and `agent check` tests,
 * read the same way as `credproxy agent` reads them: --listen HOST:PORT (a real port: the
 * Port session dials a fixed one), --pool and --allow-cidr as canonical IPv4 CIDRs.
 */
import { parseCidr } from "../net/cidr.ts";
import { DEFAULT_AGENT_PORT } from "../tunnel/tunnel-schema.ts";
import { usageError } from "./args.ts";
import { parseListen } from "./commands/proxy-flags.ts";

export const DEFAULT_AGENT_LISTEN = `127.0.0.1:${DEFAULT_AGENT_PORT}`;

export interface AgentListen {
  readonly host: string;
  readonly port: number;
  /** As given (or the default), for the unit's command line. */
  readonly text: string;
}

export function agentListen(command: string, text: string | undefined): AgentListen {
  const given = text ?? DEFAULT_AGENT_LISTEN;
  const { host, port } = parseListen(command, given);
  if (port === 0) throw usageError(command, `--listen "${given}" needs a fixed port: Session Manager connects to the one the tunnel names (--agent-port, default ${DEFAULT_AGENT_PORT})`);
  return { host, port, text: given };
}

export function agentCidr(command: string, flag: string, text: string): string {
  const parsed = parseCidr(text);
  if ("problem" in parsed) throw usageError(command, `${flag} "${text}": ${parsed.problem}`);
  if (parsed.family !== 4) throw usageError(command, `${flag} "${text}" is IPv6; the agent handles IPv4 only`);
  return parsed.text;
}

/** True for 127.0.0.0/8, ::1 and localhost: the only addresses the SSM agent needs. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
