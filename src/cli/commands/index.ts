import { brokerCommand } from "./broker.ts";
import { cleanupCommand } from "./cleanup.ts";
import { healthcheckCommand } from "./healthcheck.ts";
import { proxyCommand } from "./proxy.ts";
import { serveCommand } from "./serve.ts";
import { validateCommand } from "./validate.ts";

/** A subcommand: a thin adapter that parses its flags and calls into the core. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** True when the command dispatches to subcommands, which handle --help themselves. */
  readonly hasSubcommands?: boolean;
  run(argv: readonly string[]): Promise<number>;
}

export const commands: readonly Command[] = [serveCommand, brokerCommand, proxyCommand, validateCommand, healthcheckCommand, cleanupCommand];
