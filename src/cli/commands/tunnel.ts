import { closest } from "../../config/problems.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import type { Command } from "./index.ts";
import { tunnelDownCommand } from "./tunnel-down.ts";
import { tunnelListCommand } from "./tunnel-list.ts";
import { tunnelStatusCommand } from "./tunnel-status.ts";
import { tunnelSocksCommand } from "./tunnel-socks.ts";
import { tunnelUpCommand } from "./tunnel-up.ts";

/** `credproxy tunnel <sub>`: the client end of a Session Manager tunnel (the instance runs credproxy agent). */
const subcommands: readonly Command[] = [tunnelUpCommand, tunnelSocksCommand, tunnelDownCommand, tunnelStatusCommand, tunnelListCommand];

function usage(): string {
  const width = Math.max(0, ...subcommands.map((c) => c.name.length));
  return `Usage: credproxy tunnel <command> [options]

Routes private CIDRs (a VPC's, say) from this machine through an EC2 instance over AWS Systems
Manager Session Manager, without SSH or an open port: a TUN device here and \`credproxy agent\`
on the instance. Linux (root or CAP_NET_ADMIN) or macOS (root; unverified there). Without
root on either end, \`tunnel socks\` offers a SOCKS5/HTTP CONNECT proxy and -L forwards instead,
through \`credproxy agent --mode socks\`.

Commands:
${subcommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

The settings of up can come from a tunnel file (--config; check it with credproxy validate
--tunnel FILE). Run "credproxy tunnel <command> --help" for its options.`;
}

export const tunnelCommand: Command = {
  name: "tunnel",
  summary: "Route private CIDRs through an EC2 instance over Session Manager",
  hasSubcommands: true,
  subcommands,
  get usage() {
    return usage();
  },
  async run(argv) {
    const [name, ...rest] = argv;
    if (name === undefined || name === "help" || name === "-h" || name === "--help") {
      process.stdout.write(usage() + "\n");
      return 0;
    }
    const sub = subcommands.find((c) => c.name === name);
    if (!sub) {
      const near = closest(name, subcommands.map((c) => c.name));
      throw new CredproxyError(ErrorCode.Usage, `tunnel: unknown command "${name}"${near ? `; did you mean "${near}"?` : ""}`, {
        hint: `tunnel commands are: ${subcommands.map((c) => c.name).join(", ")}; run "credproxy help tunnel"`,
      });
    }
    if (rest.includes("-h") || rest.includes("--help")) {
      process.stdout.write(sub.usage + "\n");
      return 0;
    }
    return sub.run(rest);
  },
};
