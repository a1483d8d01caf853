import { closest } from "../../config/problems.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { createLogger } from "../../log.ts";
import { AGENT_COMMAND, AGENT_FLAGS, agentSettings, DEFAULT_LISTEN } from "../agent-settings.ts";
import { parseCommandArgs, usageError } from "../args.ts";
import { logLevelSetting } from "../env.ts";
import { logOutput, logOutputHelp } from "../log-output.ts";
import { firstSignal } from "../signals.ts";
import { agentCheckCommand } from "./agent-check.ts";
import { agentInstallCommand } from "./agent-install.ts";
import type { Command } from "./index.ts";

/**
 * `credproxy agent [flags]` runs the agent; `credproxy agent <sub>` runs a subcommand:
 * `install` (agent-install.ts: the systemd unit, IAM and SSM document) or `check`
 * (agent-check.ts: the prerequisites); a word that is not one of them is taken as
 * the agent's own arguments, so the agent keeps its flags-only command line.
 */
const subcommands: readonly Command[] = [agentInstallCommand, agentCheckCommand];

const USAGE = `Usage: credproxy agent [--listen HOST:PORT] [--pool CIDR] [--allow-cidr CIDR]... [options]${subcommandsLine()}

The instance end of \`credproxy tunnel\`: listens for the SSM agent's Port connection (one per
Session Manager session), gives each client a pair of tunnel addresses and a TUN device of
its own, and puts the clients' packets on the network with IPv4 forwarding and MASQUERADE
(nftables or iptables, whichever exists; only its own rules, removed on exit). Several clients
at once. Where the instance has IPv6 (a global address and a default route), clients also
get an IPv6 pair from a unique local /64 and NAT66; else they are told IPv6 is not available.
Needs root or CAP_NET_ADMIN (Linux), except with --mode socks.

Options:
  --listen HOST:PORT   Where the SSM agent connects (the client's --agent-port).
                       Default: ${DEFAULT_LISTEN}
  --pool CIDR          IPv4 range the client/agent address pairs come from (one /31 each).
                       Default: 100.64.0.0/24
  --allow-cidr CIDR    A destination clients may reach (repeat for more); packets to
                       anything else, and packets whose source is not the client's own
                       address, are dropped. IPv4 or IPv6. Default: everywhere (in socks mode:
                       everywhere but the instance's loopback and link-local addresses)
  --mode MODE          tun (default): a TUN device per client, for \`tunnel up\`.
                       socks: no TUN, no NAT, no root; the agent dials TCP streams itself
                       (names resolved here, with the VPC resolver) for \`tunnel socks\`
  --dns-upstream ADDR  Where each client's DNS forwarder (UDP and TCP port 53 on the agent's
                       tunnel address, for tunnel up --dns) sends queries; ADDR or ADDR:PORT.
                       Default: the first nameserver of /etc/resolv.conf, else 169.254.169.253
  --no-dns-forward     Run no DNS forwarder
  --pool6 CIDR         Unique local IPv6 prefix (inside fd00::/8, /48 to /96) for the
                       clients' IPv6 pairs. Default: a /64 derived from /etc/machine-id,
                       clear of the instance's own addresses and routes
  --no-ipv6            Forward IPv4 only; clients are told IPv6 is off
  --log-level LEVEL    debug, info, warn or error. Default: info
  --check              Test this machine's prerequisites instead (as \`agent check\`)
${logOutputHelp(19, "text")}
  -h, --help           Show this help

When it listens it prints one line starting "agent: listening on". SIGTERM or SIGINT
closes every client session (a CLOSE frame each), removes the TUN devices and the NAT rules.`;

function subcommandsLine(): string {
  const width = Math.max(...subcommands.map((c) => c.name.length));
  return `\n       credproxy agent <command> [options]\n\nCommands:\n${subcommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}`;
}

export const agentCommand: Command = {
  name: "agent",
  summary: "Run the instance end of credproxy tunnel (TUN per client, NAT)",
  usage: USAGE,
  flags: AGENT_FLAGS,
  hasSubcommands: true,
  subcommands,
  async run(argv) {
    const [first, ...rest] = argv;
    const sub = subcommands.find((c) => c.name === first);
    if (sub !== undefined) {
      if (rest.includes("-h") || rest.includes("--help")) {
        process.stdout.write(sub.usage + "\n");
        return 0;
      }
      return sub.run(rest);
    }
    if (argv.includes("-h") || argv.includes("--help")) {
      process.stdout.write(USAGE + "\n");
      return 0;
    }
    // `agent --check` is `agent check`, for whoever reaches for a flag.
    if (argv.includes("--check")) return agentCheckCommand.run(argv.filter((a) => a !== "--check"));
    if (first !== undefined && !first.startsWith("-")) throw unknownSubcommand(first);
    return runAgentCommand(argv);
  },
};

async function runAgentCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs(AGENT_COMMAND, argv, AGENT_FLAGS);
  const settings = agentSettings(values);
  const output = logOutput(AGENT_COMMAND, values, "text");
  const level = logLevelSetting(values["log-level"], process.env, output.dev ? "debug" : "info", (m) => usageError(AGENT_COMMAND, m));
  const logger = createLogger({ level, format: output.format }, { component: "agent" });
  const stop = firstSignal();
  const { runAgent } = await import("../../agent/run-agent.ts");
  await runAgent({ settings, logger, stop });
  return 0;
}

function unknownSubcommand(word: string): CredproxyError {
  const names = subcommands.map((c) => c.name);
  const near = closest(word, names);
  return new CredproxyError(ErrorCode.Usage, `agent: unexpected argument "${word}"${near ? `; did you mean "${near}"?` : ""}`, {
    hint: names.length > 0 ? `agent commands are: ${names.join(", ")}; run "credproxy help agent"` : `the agent takes flags only; run "credproxy help agent"`,
  });
}
