import { versionInfo, versionLine } from "../../version.ts";
import { parseCommandArgs, type OptionSpec } from "../args.ts";
import type { Command } from "./index.ts";

const USAGE = `Usage: credproxy --version [--json]
       credproxy version [--json]

Prints the version and the git commit the binary was built from.

Options:
      --json   One JSON object for bug reports: version, commit, buildDate (UTC:
               SOURCE_DATE_EPOCH, else the commit's time), platform (os-cpu) and bun (the
               embedded runtime's version)
  -h, --help   Show this help`;

const FLAGS = { json: { type: "boolean" } } as const satisfies OptionSpec;

export const versionCommand: Command = {
  name: "version",
  summary: "Print the version and git commit (--json: also build date, platform, Bun)",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs("version", argv, FLAGS);
    process.stdout.write((values.json ? JSON.stringify(versionInfo()) : versionLine()) + "\n");
    return 0;
  },
};
