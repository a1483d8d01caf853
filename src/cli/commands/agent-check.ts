import { checkLine, checksPassed, checkSummary } from "../../agent/check/agent-checks.ts";
import { runAgentChecks } from "../../agent/check/system-probes.ts";
import { parseCommandArgs, type OptionSpec } from "../args.ts";
import { agentListen } from "../agent-flags.ts";
import { agentMode } from "../agent-settings.ts";
import type { Command } from "./index.ts";

const COMMAND = "agent check";

const USAGE = `Usage: credproxy agent check [--listen HOST:PORT] [--mode tun|socks] [--json]

Tests whether this machine can run credproxy agent and prints one line per check (ok, FAIL or
unknown, with a hint): root or CAP_NET_ADMIN, /dev/net/tun opens, nft or iptables is there,
net.ipv4.ip_forward is writable, the listen address is free, and (advisory: not always
knowable) whether the SSM agent runs. It changes nothing. Exit 0 when every required check
passes, 1 otherwise. With --mode socks only the listen address and the SSM agent are checked:
that mode needs no root, TUN, firewall or forwarding.

Options:
  --listen HOST:PORT   The address the agent will listen on. Default: 127.0.0.1:7860
  --mode MODE          The mode the agent will run in (tun or socks). Default: tun
  --json               One JSON object: ok, and the checks with status, detail and hint
  -h, --help           Show this help`;

const FLAGS = { listen: { type: "string" }, mode: { type: "string" }, json: { type: "boolean" } } as const satisfies OptionSpec;

export const agentCheckCommand: Command = {
  name: "check",
  summary: "Test this machine's prerequisites for the agent (changes nothing)",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs(COMMAND, argv, FLAGS);
    const listen = agentListen(COMMAND, values.listen);
    const results = await runAgentChecks(listen, { mode: agentMode(values.mode) });
    const ok = checksPassed(results);
    if (values.json === true) process.stdout.write(JSON.stringify({ ok, checks: results }, null, 2) + "\n");
    else process.stdout.write([...results.map(checkLine), checkSummary(results)].join("\n") + "\n");
    return ok ? 0 : 1;
  },
};
