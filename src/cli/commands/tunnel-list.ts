import { parseCommandArgs, type OptionSpec } from "../args.ts";
import { tunnelsHere } from "../tunnel-pick.ts";
import type { Command } from "./index.ts";
import { tunnelReport } from "./tunnel-status.ts";

const USAGE = `Usage: credproxy tunnel list

One line per tunnel recorded here: name, state, interface, instance, routes and pid. A tunnel
whose process is gone shows as "stale" (clean up with credproxy tunnel down --force NAME).

Options:
  -h, --help   Show this help`;

const FLAGS = {} as const satisfies OptionSpec;

export const tunnelListCommand: Command = {
  name: "list",
  summary: "One line per tunnel",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    parseCommandArgs("tunnel list", argv, FLAGS);
    const { dir, tunnels } = tunnelsHere();
    if (tunnels.length === 0) {
      process.stdout.write(`no tunnel is up${dir === undefined ? "" : ` (nothing in ${dir})`}\n`);
      return 0;
    }
    for (const r of await Promise.all(tunnels.map(tunnelReport))) {
      process.stdout.write(`${r.name}  ${r.stale ? "stale" : r.state}  ${r.interface ?? "-"}  ${r.instanceId}  ${(r.routes ?? []).join(",")}  pid ${r.pid}\n`);
    }
    return 0;
  },
};
