import { CredproxyError, ErrorCode } from "../../errors.ts";
import { recordAlive, type FoundTunnel } from "../../tunnel/tunnel-state.ts";
import { parseCommandArgs, type OptionSpec } from "../args.ts";
import { pickTunnel, tunnelsHere } from "../tunnel-pick.ts";
import type { Command } from "./index.ts";

const COMMAND = "tunnel down";
const STOP_TIMEOUT_MS = 20_000;

const USAGE = `Usage: credproxy tunnel down [NAME] [--force]

Stops a tunnel: its process ends the Session Manager session (TerminateSession), removes its
TUN device and routes, and its state files. NAME may be left out when only one tunnel is up.

Options:
  --force      After a crash (kill -9): remove what the record says the tunnel left (its TUN
               device and routes, if still there; --dns resolver files) and the record
               itself, then call TerminateSession for its session (best effort: a failure
               is a warning); a tunnel process that still runs is killed first
  -h, --help   Show this help`;

const FLAGS = { force: { type: "boolean" } } as const satisfies OptionSpec;

export const tunnelDownCommand: Command = {
  name: "down",
  summary: "Stop a tunnel (--force: clean up after a crashed one)",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(COMMAND, argv, FLAGS, { min: 0, max: 1 });
    const { dir, tunnels } = tunnelsHere();
    const tunnel = pickTunnel(COMMAND, tunnels, positionals[0], dir);
    const { name, pid } = tunnel.record;
    if (values.force === true) {
      if (tunnel.alive) {
        process.kill(pid, "SIGKILL");
        await exited(tunnel);
      }
      const { removeTunnelLeftovers } = await import("../../tunnel/remove-tunnel-leftovers.ts");
      const outcome = await removeTunnelLeftovers(dir!, tunnel.record);
      const device =
        outcome.device === "removed"
          ? `removed ${tunnel.record.interface} and its routes ${outcome.routesRemoved.join(" ") || "(none left)"}`
          : outcome.device === "kept"
            ? `left ${tunnel.record.interface} alone (a running tunnel owns it now)`
            : outcome.device === "held"
              ? `removed its routes through ${tunnel.record.interface} ${outcome.routesRemoved.join(" ") || "(none left)"}; the utun itself goes when the process holding it exits`
              : `${tunnel.record.interface} and its routes were gone already`;
      const dns = outcome.dnsRemoved.length === 0 ? "" : `; removed ${outcome.dnsRemoved.join(" ")}`;
      process.stdout.write(`tunnel ${name}: state removed; ${device}${dns}${await terminateAfterCrash(tunnel)}\n`);
      return 0;
    }
    if (!tunnel.alive) {
      throw new CredproxyError(ErrorCode.Platform, `${COMMAND}: tunnel ${name}'s process (pid ${pid}) is not running; its state file was left behind`, {
        hint: `clean up after it with: credproxy tunnel down --force ${name}`,
      });
    }
    process.kill(pid, "SIGTERM");
    if (!(await exited(tunnel))) {
      throw new CredproxyError(ErrorCode.Platform, `${COMMAND}: tunnel ${name} (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s`, {
        hint: `force it: credproxy tunnel down --force ${name}`,
      });
    }
    process.stdout.write(`tunnel ${name}: down\n`);
    return 0;
  },
};

/** TerminateSession for the crashed tunnel's session, best effort: a failure is a warning on stderr. */
async function terminateAfterCrash(tunnel: FoundTunnel): Promise<string> {
  const { sessionId, name } = tunnel.record;
  if (sessionId === undefined) return "";
  const { terminateRecordedSession } = await import("../../tunnel/terminate-recorded-session.ts");
  const outcome = await terminateRecordedSession(tunnel.record);
  if (outcome.ok) return `; session ${sessionId} terminated`;
  process.stderr.write(`warning: tunnel ${name}: TerminateSession for ${sessionId} failed (${outcome.error}); the session ends at its idle timeout\n`);
  return "";
}

/** Waits (polling, as a pid has no event to wait on here) until the tunnel's process has gone. */
async function exited(tunnel: FoundTunnel): Promise<boolean> {
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (recordAlive(tunnel.record)) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(25);
  }
  return true;
}
