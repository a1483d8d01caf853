import { describeTunnelDns, type TunnelDnsRecord } from "../../tunnel/dns/tunnel-dns.ts";
import type { TunnelStatus, TunnelStripeStatus } from "../../tunnel/tunnel-status.ts";
import { queryControlSocket, type FoundTunnel } from "../../tunnel/tunnel-state.ts";
import { parseCommandArgs, type OptionSpec } from "../args.ts";
import { pickTunnel, tunnelsHere } from "../tunnel-pick.ts";
import type { Command } from "./index.ts";

const COMMAND = "tunnel status";

const USAGE = `Usage: credproxy tunnel status [NAME] [--json]

Shows each tunnel (or the one named): instance, session id, state (connecting, up, resuming,
down), uptime, packets and bytes each way, drops, resends, round-trip time and reconnects, as
the tunnel's process reports them on its socket; with --sessions N, a line per session too. A tunnel whose process is gone shows as down
(stale), with how to clean up after it.

Options:
  --json       One JSON array, an object per tunnel
  -h, --help   Show this help`;

const FLAGS = { json: { type: "boolean" } } as const satisfies OptionSpec;

/** A tunnel as status reports it: the record, and the live status when the process answered. */
export interface TunnelReport extends Partial<Omit<TunnelStatus, "state">> {
  readonly name: string;
  readonly state: TunnelStatus["state"];
  readonly stale: boolean;
  /** The recorded process still runs. */
  readonly alive: boolean;
  readonly pid: number;
  readonly instanceId: string;
  readonly region: string;
  readonly uptimeSeconds: number | undefined;
  /** `tunnel socks` only: streams open now and opened in all. */
  readonly mode?: "socks";
  readonly streams?: number;
  readonly streamsOpened?: number;
  /** What --dns set up (the live tunnel's, else the record's). */
  readonly dns?: TunnelDnsRecord | undefined;
}

export const tunnelStatusCommand: Command = {
  name: "status",
  summary: "Show a tunnel's state, session and counters",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(COMMAND, argv, FLAGS, { min: 0, max: 1 });
    const { dir, tunnels } = tunnelsHere();
    const chosen = positionals[0] === undefined ? tunnels : [pickTunnel(COMMAND, tunnels, positionals[0], dir)];
    const reports = await Promise.all(chosen.map(tunnelReport));
    if (values.json === true) {
      process.stdout.write(JSON.stringify(reports, null, 2) + "\n");
      return 0;
    }
    if (reports.length === 0) process.stdout.write(`no tunnel is up${dir === undefined ? "" : ` (nothing in ${dir})`}\n`);
    for (const r of reports) process.stdout.write(describe(r) + "\n");
    return 0;
  },
};

export async function tunnelReport(found: FoundTunnel): Promise<TunnelReport> {
  const { record } = found;
  const live = found.alive ? ((await queryControlSocket(found.socket)) as (Partial<TunnelStatus> & Pick<TunnelReport, "mode" | "streams" | "streamsOpened">) | undefined) : undefined;
  const base = {
    interface: record.interface,
    clientAddress: record.clientAddress,
    agentAddress: record.agentAddress,
    routes: record.routes,
    sessionId: record.sessionId,
    ...(record.dns === undefined ? {} : { dns: record.dns }),
  };
  const now = Date.now();
  return {
    ...base,
    ...live,
    name: record.name,
    state: live?.state ?? "down",
    stale: live === undefined,
    alive: found.alive,
    pid: record.pid,
    instanceId: record.instanceId,
    region: record.region,
    uptimeSeconds: live?.upSince === undefined ? undefined : Math.max(0, Math.round((now - live.upSince) / 1000)),
  };
}

function describe(r: TunnelReport): string {
  const why = r.alive ? `pid ${r.pid} runs but does not answer on its socket` : `pid ${r.pid} is gone; clean up with: credproxy tunnel down --force ${r.name}`;
  const lines = [
    `${r.name}: ${r.state}${r.stale ? ` (stale: ${why})` : ""}`,
    `  instance ${r.instanceId} (${r.region}), session ${r.sessionId ?? "(none)"}, pid ${r.pid}`,
    `  interface ${r.interface ?? "-"} ${r.clientAddress ?? "-"} -> ${r.agentAddress ?? "-"}${r.mtu === undefined ? "" : ` mtu ${r.mtu}`}, routes ${(r.routes ?? []).join(" ") || "-"}`,
  ];
  if (r.dns !== undefined) lines.push(`  ${describeTunnelDns(r.dns)}`);
  if (!r.stale && r.mode === "socks") {
    lines[2] = `  listening ${(r.routes ?? []).join(", ") || "-"} (socks mode: no TUN)`;
    lines.push(
      `  uptime ${r.uptimeSeconds === undefined ? "-" : duration(r.uptimeSeconds)}; streams ${r.streams ?? 0} open, ${r.streamsOpened ?? 0} opened; sent ${r.bytesSent ?? 0} bytes; received ${r.bytesReceived ?? 0} bytes; rtt ${r.rttMs === undefined ? "-" : `${Math.round(r.rttMs)} ms`}; reconnects ${r.reconnects ?? 0}`,
    );
    if (r.lastError !== undefined) lines.push(`  last error: ${r.lastError}`);
  } else if (!r.stale) {
    const d = r.drops;
    // `inFlightBound` is absent from a tunnel process older than the field.
    const dropped = d === undefined ? 0 : d.queueFull + d.filtered + d.oversize + d.noSession + d.tunWrite + (d.inFlightBound ?? 0);
    lines.push(
      `  uptime ${r.uptimeSeconds === undefined ? "-" : duration(r.uptimeSeconds)}; sent ${r.packetsSent ?? 0} packets ${r.bytesSent ?? 0} bytes; received ${r.packetsReceived ?? 0} packets ${r.bytesReceived ?? 0} bytes`,
      `  drops ${dropped}${d === undefined ? "" : ` (queue full ${d.queueFull}, filtered ${d.filtered}, oversize ${d.oversize}, no session ${d.noSession}, TUN write ${d.tunWrite}, agent in-flight bound ${d.inFlightBound ?? 0})`}; resends ${r.resends ?? 0}; rtt ${r.rttMs === undefined ? "-" : `${Math.round(r.rttMs)} ms`}; reconnects ${r.reconnects ?? 0}`,
    );
    if (r.lastError !== undefined) lines.push(`  last error: ${r.lastError}`);
    if ((r.stripes?.length ?? 0) > 1) for (const s of r.stripes!) lines.push(stripeLine(s));
  }
  return lines.join("\n");
}

/** `  session 1: up dev-0a1b…, sent 12 packets 3400 bytes, received 20 packets 28000 bytes, reconnects 0` */
function stripeLine(s: TunnelStripeStatus): string {
  const error = s.lastError === undefined || s.state === "up" ? "" : `; ${s.lastError}`;
  return `  session ${s.index}: ${s.state} ${s.sessionId ?? "(none)"}, sent ${s.packetsSent} packets ${s.bytesSent} bytes, received ${s.packetsReceived} packets ${s.bytesReceived} bytes, reconnects ${s.reconnects}${error}`;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}
