import { CredproxyError, ErrorCode } from "../../errors.ts";
import { ErrnoError } from "../../../native/libc.ts";
import { cleanupLoopbackLeftovers } from "../../net/loopback-address.ts";
import type { LeftoverResult } from "../../net/loopback-leftovers.ts";
import { stateDirectory } from "../../net/loopback-state.ts";
import { parseCommandArgs, type OptionSpec } from "../args.ts";
import type { Command } from "./index.ts";

const USAGE = `Usage: credproxy cleanup [--dry-run]

Removes the loopback addresses (169.254.170.2 of serve's ecs_metadata, 169.254.169.254 of
broker imds) that a credproxy run added and could not remove because it was killed (SIGKILL,
a crash, an OOM kill). Only addresses credproxy recorded, in this network namespace, for runs
that are no longer alive: an address someone else added, or a live run's, is left alone. Every
run also does this by itself before adding its own. Prints one line per recorded address.
Linux; needs CAP_NET_ADMIN (root) to remove.

Records: $CREDPROXY_RUNTIME_DIR, else /run/credproxy for root, else $XDG_RUNTIME_DIR/credproxy.

Options:
  -n, --dry-run   Say what would be removed, change nothing
  -h, --help      Show this help`;

const FLAGS = { "dry-run": { type: "boolean", short: "n" } } as const satisfies OptionSpec;

export const cleanupCommand: Command = {
  name: "cleanup",
  summary: "Remove loopback addresses that killed credproxy runs left behind",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs("cleanup", argv, FLAGS, { min: 0, max: 0 });
    const dryRun = values["dry-run"] === true;
    const dir = stateDirectory();
    if (process.platform !== "linux") {
      throw new CredproxyError(ErrorCode.Platform, `Cannot clean up loopback addresses on ${process.platform} as credproxy records them on Linux only`, {
        hint: "remove an address by hand: sudo ifconfig lo0 -alias ADDRESS",
      });
    }
    if (dir === undefined) {
      process.stdout.write("nothing recorded: no runtime directory (runs as root record in /run/credproxy: sudo credproxy cleanup)\n");
      return 0;
    }
    const results = cleanupLoopbackLeftovers({ dir, dryRun });
    if (results.length === 0) process.stdout.write(`nothing recorded in ${dir} for this network namespace\n`);
    for (const r of results) process.stdout.write(line(r, dryRun) + "\n");
    const failed = results.find((r) => r.outcome === "failed");
    if (failed) throw removeError(failed);
    return 0;
  },
};

function line(r: LeftoverResult, dryRun: boolean): string {
  const what = `${r.address}/${r.prefixLength}`;
  switch (r.outcome) {
    case "removed":
      return `${what}: ${dryRun ? "would remove" : "removed"} (left by pid ${r.pid}, no longer running)`;
    case "owned":
      return `${what}: still owned by pid ${r.pid}, left alone`;
    case "gone":
      return `${what}: gone already (left by pid ${r.pid})`;
    case "failed":
      return `${what}: could not be removed (left by pid ${r.pid})`;
  }
}

function removeError(r: LeftoverResult): CredproxyError {
  const code = r.error instanceof ErrnoError ? r.error.code : undefined;
  const what = `${r.address}/${r.prefixLength}`;
  const why = code === "EPERM" || code === "EACCES" ? `credproxy lacks CAP_NET_ADMIN: the kernel answered ${code}` : r.error instanceof Error ? r.error.message : String(r.error);
  return new CredproxyError(ErrorCode.Platform, `Cannot remove ${what} from the loopback interface lo as ${why}`, {
    cause: r.error,
    hint: `run it as root (sudo credproxy cleanup), or remove it by hand: sudo ip addr del ${what} dev lo`,
  });
}
