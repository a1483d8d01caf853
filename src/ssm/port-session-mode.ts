/**
 * Which byte stream a Port session carries, decided as the session-manager-plugin decides it
 * (ssm-tunnel-2.md §7): smux when the document's properties say `type: LocalPortForwarding`
 * (AWS-StartPortForwardingSession and …ToRemoteHost) and the agent is newer than 3.0.196.0;
 * otherwise basic, one raw TCP stream (AWS-StartSSHSession, custom Port documents). The agent
 * makes the same choice from our ClientVersion (≥ 1.1.70, always true for ours), so both ends
 * agree without a negotiation of their own.
 */
import { compareVersions } from "./client-version.ts";
import type { PortSessionInfo } from "./data-channel-types.ts";

export type PortSessionMode = "basic" | "mux";

/** The plugin uses smux for agents strictly newer than this. */
export const MUX_AGENT_VERSION_AFTER = "3.0.196.0";
export const LOCAL_PORT_FORWARDING = "LocalPortForwarding";

export function portSessionMode(info: PortSessionInfo): PortSessionMode {
  if (info.properties["type"] !== LOCAL_PORT_FORWARDING) return "basic";
  if (!/^\d+(\.\d+)*$/.test(info.agentVersion)) return "basic";
  return compareVersions(info.agentVersion, MUX_AGENT_VERSION_AFTER) > 0 ? "mux" : "basic";
}
