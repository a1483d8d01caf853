import { closest } from "../../config/problems.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import type { Command } from "./index.ts";
import { proxyCaCommand } from "./proxy-ca.ts";
import { proxyEnvCommand } from "./proxy-env.ts";
import { PROXY_RUN_FLAGS, proxyRunCommand } from "./proxy-run.ts";

/** `credproxy proxy [options]` runs the proxy; `proxy env` and `proxy ca` help a sandbox use it. */
const subcommands: readonly Command[] = [proxyEnvCommand, proxyCaCommand];

export const proxyCommand: Command = {
  name: "proxy",
  summary: "A credential-injecting forward proxy for sandboxes (env, ca)",
  hasSubcommands: true,
  // `credproxy proxy [options]` runs the proxy itself: its flags are proxy's own.
  flags: PROXY_RUN_FLAGS,
  subcommands,
  get usage() {
    return `${proxyRunCommand.usage}

Commands:
${subcommands.map((c) => `  ${c.name.padEnd(4)}  ${c.summary}`).join("\n")}

Run "credproxy proxy <command> --help" for its options.`;
  },
  async run(argv) {
    const [name, ...rest] = argv;
    if (name === undefined || name.startsWith("-")) {
      if (argv.includes("-h") || argv.includes("--help")) return help(this.usage);
      return proxyRunCommand.run(argv);
    }
    if (name === "help") return help(this.usage);
    const sub = subcommands.find((c) => c.name === name);
    if (!sub) {
      const near = closest(name, subcommands.map((c) => c.name));
      throw new CredproxyError(ErrorCode.Usage, `proxy: unknown command "${name}"${near ? `; did you mean "${near}"?` : ""}`, {
        hint: `"credproxy proxy [options]" runs the proxy; its commands are ${subcommands.map((c) => c.name).join(", ")}`,
      });
    }
    if (rest.includes("-h") || rest.includes("--help")) return help(sub.usage);
    return sub.run(rest);
  },
};

function help(text: string): number {
  process.stdout.write(text + "\n");
  return 0;
}
