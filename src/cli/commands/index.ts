import { agentCommand } from "./agent.ts";
import { brokerCommand } from "./broker.ts";
import { cleanupCommand } from "./cleanup.ts";
import { completionCommand } from "./completion.ts";
import { healthcheckCommand } from "./healthcheck.ts";
import { manCommand } from "./man.ts";
import { proxyCommand } from "./proxy.ts";
import { serveCommand } from "./serve.ts";
import { tunnelCommand } from "./tunnel.ts";
import { validateCommand } from "./validate.ts";
import { versionCommand } from "./version.ts";
import type { OptionSpec } from "../args.ts";

/** A subcommand: a thin adapter that parses its flags and calls into the core. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** True when the command dispatches to subcommands, which handle --help themselves. */
  readonly hasSubcommands?: boolean;
  /**
   * The flags, exactly as the command gives them to parseCommandArgs: completion and the man
   * page read them from here, so they cannot drift from what the parser accepts.
   */
  readonly flags?: OptionSpec;
  /** The subcommands (with hasSubcommands), for completion and the man page. */
  readonly subcommands?: readonly Command[];
  /** The values a positional argument takes, when it is one of a few words (for completion). */
  readonly argumentChoices?: readonly string[];
  run(argv: readonly string[]): Promise<number>;
}

export const commands: readonly Command[] = [serveCommand, brokerCommand, proxyCommand, tunnelCommand, agentCommand, validateCommand, healthcheckCommand, cleanupCommand, versionCommand, completionCommand, manCommand];
