import { closest } from "../config/problems.ts";
import { CredproxyError, ErrorCode, exitCodeFor, formatError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { usageError } from "./args.ts";
import { commands, type Command } from "./commands/index.ts";

const TOP_HELP = `credproxy ${VERSION}: short-lived AWS credentials for the programs that need them

Usage: credproxy <command> [options]

Commands:
${"{{commands}}"}

Options:
  -h, --help      Show help (also: credproxy help <command>)
  -v, --version   Print the version and git commit (--json: also build date, platform, Bun)

Run "credproxy help <command>" for the options of a command.`;

export function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const list = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n");
  return TOP_HELP.replace("{{commands}}", list);
}

/**
 * Entry point: dispatches to a subcommand and turns errors into exit codes.
 * A CredproxyError prints `error[CODE]: message` + hint and exits 1 (2 for usage);
 * anything else is a bug and prints its stack (exit 70).
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (error) {
    process.stderr.write(formatError(error) + "\n");
    return exitCodeFor(error);
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "help" || first === "-h" || first === "--help") {
    return await help(first === "help" ? rest : []);
  }
  // The Python CredProxy has no subcommands (`credproxy --config x --validate-only`):
  // a leading flag means `serve`, so existing command lines keep working; `--version [--json]`
  // is the version command.
  const [command, args] =
    first === "--version" || first === "-v" ? [find("version"), rest] : first.startsWith("-") ? [find("serve"), argv] : [find(first), rest];
  if (!command) throw unknownCommand(first);
  // Only flags before a "--" are ours (broker exec passes the rest to a child), and commands
  // with subcommands answer --help themselves.
  const own = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  if (!command.hasSubcommands && (own.includes("-h") || own.includes("--help"))) {
    process.stdout.write(command.usage + "\n");
    return 0;
  }
  return command.run(args);
}

const HELP_USAGE = `Usage: credproxy help [command [subcommand]]

Shows the commands, or the options of one command ("credproxy help broker exec").`;

async function help(args: readonly string[]): Promise<number> {
  const [name, ...extra] = args;
  if (name === "help") {
    if (extra.length > 0) throw usageError("help", `unexpected argument "${extra[0]}"`);
    process.stdout.write(HELP_USAGE + "\n");
    return 0;
  }
  const command = name === undefined ? undefined : find(name);
  if (name !== undefined && !command) throw unknownCommand(name, "help");
  // `help broker exec` is `broker exec --help`; a third word is one too many.
  const nested = command?.hasSubcommands ? 1 : 0;
  if (extra.length > nested) throw usageError("help", `unexpected argument "${extra[nested]}"`);
  if (command?.hasSubcommands && extra.length === 1) return command.run([extra[0]!, "--help"]);
  process.stdout.write((command ? command.usage : topHelp()) + "\n");
  return 0;
}

/** `unknown command "serv"; did you mean "serve"?`, listing the commands. */
function unknownCommand(name: string, context?: string): CredproxyError {
  const names = commands.map((c) => c.name);
  const near = closest(name, names);
  return new CredproxyError(ErrorCode.Usage, `${context ? `${context}: ` : ""}unknown command "${name}"${near ? `; did you mean "${near}"?` : ""}`, {
    hint: `commands are: ${names.join(", ")}; run "credproxy help"`,
  });
}

function find(name: string): Command | undefined {
  return commands.find((c) => c.name === name);
}
