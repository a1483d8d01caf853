import { closest } from "../../config/problems.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { brokerCredentialProcessCommand } from "./broker-credential-process.ts";
import { brokerExecCommand } from "./broker-exec.ts";
import { brokerImdsCommand } from "./broker-imds.ts";
import { brokerServeCommand } from "./broker-serve.ts";
import type { Command } from "./index.ts";

/** `credproxy broker <sub>`: each way of handing credentials to local processes is its own file. */
const subcommands: readonly Command[] = [brokerExecCommand, brokerServeCommand, brokerCredentialProcessCommand, brokerImdsCommand];

function usage(): string {
  const width = Math.max(0, ...subcommands.map((c) => c.name.length));
  return `Usage: credproxy broker <command> [options]

Short-lived role credentials for processes on this machine, in the shape each already
understands, without long-lived keys in their environment.

Commands:
${subcommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Run "credproxy broker <command> --help" for its options.`;
}

export const brokerCommand: Command = {
  name: "broker",
  summary: "Credentials for processes on this machine (exec, unix socket, IMDS)",
  hasSubcommands: true,
  subcommands,
  get usage() {
    return usage();
  },
  async run(argv) {
    const [name, ...rest] = argv;
    if (name === undefined || name === "help" || name === "-h" || name === "--help") {
      // Bare `credproxy broker` shows its commands, as bare `credproxy` does.
      process.stdout.write(usage() + "\n");
      return 0;
    }
    const sub = subcommands.find((c) => c.name === name);
    if (!sub) {
      const near = closest(name, subcommands.map((c) => c.name));
      throw new CredproxyError(ErrorCode.Usage, `broker: unknown command "${name}"${near ? `; did you mean "${near}"?` : ""}`, {
        hint: `broker commands are: ${subcommands.map((c) => c.name).join(", ")}; run "credproxy help broker"`,
      });
    }
    const own = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
    if (own.includes("-h") || own.includes("--help")) {
      process.stdout.write(sub.usage + "\n");
      return 0;
    }
    return sub.run(rest);
  },
};
