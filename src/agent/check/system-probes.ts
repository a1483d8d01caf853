/**
 * The real probes behind `credproxy agent check`. Each only looks: /dev/net/tun and
 * ip_forward are opened and closed without a write or an ioctl, the port is bound and released
 * at once, and the SSM agent is looked for in /proc and, where systemd runs, asked about.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { basename } from "node:path";
import { hasNetAdmin } from "../../tunnel/net-admin.ts";
import { spawnRunner, type CommandRunner } from "../command-runner.ts";
import { defaultWhich } from "../detect-firewall.ts";
import { IP_FORWARD_FILE } from "../ip-forward.ts";
import { ipv6Unavailable, readInstanceIpv6 } from "../ipv6-probe.ts";
import {
  checkFirewall,
  checkIpForward,
  checkIpv6,
  checkListen,
  checkPrivileges,
  checkSsmAgent,
  checkTun,
  type CheckResult,
  type ProbeError,
  type SsmAgentSeen,
} from "./agent-checks.ts";

export const TUN_DEVICE = "/dev/net/tun";
/** The SSM agent's unit from the RPM/DEB packages, and from the snap Ubuntu images use. */
export const SSM_AGENT_UNITS = ["amazon-ssm-agent.service", "snap.amazon-ssm-agent.amazon-ssm-agent.service"] as const;
const SSM_AGENT_PROGRAMS = new Set(["amazon-ssm-agent", "ssm-agent-worker"]);

export interface SystemProbeOptions {
  readonly tunDevice?: string | undefined;
  readonly ipForwardFile?: string | undefined;
  readonly runner?: CommandRunner | undefined;
  /** socks: the agent needs no privilege, TUN, firewall or forwarding, so those are not checked. */
  readonly mode?: "tun" | "socks" | undefined;
}

export async function runAgentChecks(listen: { host: string; port: number }, options: SystemProbeOptions = {}): Promise<CheckResult[]> {
  const tun = options.tunDevice ?? TUN_DEVICE;
  const forward = options.ipForwardFile ?? IP_FORWARD_FILE;
  if (options.mode === "socks") {
    return [checkListen(listen, await bindProbe(listen)), checkSsmAgent(await ssmAgentSeen(options.runner ?? spawnRunner(5_000)))];
  }
  return [
    checkPrivileges({ uid: process.getuid?.() ?? -1, netAdmin: hasNetAdmin() }),
    checkTun(openProbe(tun, "r+"), tun),
    checkFirewall({ nft: defaultWhich("nft"), iptables: defaultWhich("iptables") }),
    checkIpForward(readWritable(forward), forward),
    checkListen(listen, await bindProbe(listen)),
    checkSsmAgent(await ssmAgentSeen(options.runner ?? spawnRunner(5_000))),
    ipv6Check(),
  ];
}

function ipv6Check(): CheckResult {
  const info = readInstanceIpv6();
  return checkIpv6(info, ipv6Unavailable(info));
}

function probeError(error: unknown): ProbeError {
  return { code: (error as NodeJS.ErrnoException).code, message: (error as Error).message };
}

function openProbe(path: string, flags: string): ProbeError | undefined {
  try {
    closeSync(openSync(path, flags));
    return undefined;
  } catch (error) {
    return probeError(error);
  }
}

/** Opening for writing is where the kernel (and a read-only mount) says no; nothing is written. */
function readWritable(path: string): { value: string } | ProbeError {
  const error = openProbe(path, "r+");
  if (error) return error;
  try {
    return { value: readFileSync(path, "utf8").trim() };
  } catch (e) {
    return probeError(e);
  }
}

function bindProbe(listen: { host: string; port: number }): Promise<ProbeError | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (error) => resolve(probeError(error)));
    server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

async function ssmAgentSeen(runner: CommandRunner): Promise<SsmAgentSeen> {
  const found = ssmAgentProcess();
  if (found !== undefined) return { process: found, units: undefined };
  // Only a systemd that runs as PID 1 creates /run/systemd/system (sd_booted()).
  if (!existsSync("/run/systemd/system")) return { process: undefined, units: undefined };
  const answer = await runner(["systemctl", "is-active", ...SSM_AGENT_UNITS]);
  if (answer.code === 127 || answer.code === -1) return { process: undefined, units: undefined };
  const states = answer.stdout.trim().split("\n");
  return { process: undefined, units: Object.fromEntries(SSM_AGENT_UNITS.map((unit, i) => [unit, states[i] ?? "unknown"])) };
}

/** `amazon-ssm-agent (pid 812)` from /proc/PID/cmdline's program name, or undefined. */
function ssmAgentProcess(): string | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let program: string;
    try {
      program = basename(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "");
    } catch {
      continue; // gone since the listing
    }
    if (SSM_AGENT_PROGRAMS.has(program)) return `${program} (pid ${pid})`;
  }
  return undefined;
}
