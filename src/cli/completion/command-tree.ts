/**
 * The command line as the shell completions see it, built from the same command table the
 * dispatcher uses and from each command's `flags` (the object it hands to parseCommandArgs), so
 * a completion cannot offer a command or flag the parser would refuse, nor miss one it accepts.
 */
import { LOG_LEVELS } from "../../log.ts";
import type { Command } from "../commands/index.ts";

export interface CompletionFlag {
  /** The long name without dashes: "config". */
  readonly long: string;
  /** The one-letter form without its dash, when there is one. */
  readonly short?: string;
  readonly takesValue: boolean;
  /** The values it takes, when it is one of a few words. */
  readonly choices?: readonly string[];
}

export interface CompletionNode {
  /** The words after `credproxy` that lead here, space-separated: "", "broker", "broker exec", "help". */
  readonly path: string;
  /** What can be typed next as a word: subcommands (with their summaries), or an argument's choices. */
  readonly words: readonly { readonly name: string; readonly summary: string }[];
  readonly flags: readonly CompletionFlag[];
  /** Whether a free argument (a file, a URL, or a command after `--`) may follow here. */
  readonly files: boolean;
}

/** Values of flags that mean the same on every command. */
const FLAG_CHOICES: Readonly<Record<string, readonly string[]>> = {
  "log-level": LOG_LEVELS,
  "log-format": ["json", "text"],
};

/** Every command answers -h/--help (the dispatcher checks it before the command parses). */
const HELP_FLAG: CompletionFlag = { long: "help", short: "h", takesValue: false };

/** The top level: `credproxy -h` and `credproxy -v` (the version command, see run.ts). */
const TOP_FLAGS: readonly CompletionFlag[] = [HELP_FLAG, { long: "version", short: "v", takesValue: false }];

/** Words at the top level that stand for a command: `credproxy --version --json` is `credproxy version --json`. */
export const TOP_ALIASES: Readonly<Record<string, string>> = { "--version": "version", "-v": "version" };

export function commandTree(commands: readonly Command[]): CompletionNode[] {
  const nodes: CompletionNode[] = [
    { path: "", words: [...commands.map(word), { name: "help", summary: "Show the commands, or the options of one" }], flags: TOP_FLAGS, files: false },
    { path: "help", words: commands.map(word), flags: [], files: false },
  ];
  for (const command of commands) {
    nodes.push(...nodesOf(command, command.name));
    if (command.subcommands) nodes.push({ path: `help ${command.name}`, words: command.subcommands.map(word), flags: [], files: false });
  }
  return nodes;
}

function nodesOf(command: Command, path: string): CompletionNode[] {
  const subs = command.subcommands ?? [];
  const choices = command.argumentChoices ?? [];
  const node: CompletionNode = {
    path,
    words: [...subs.map(word), ...choices.map((name) => ({ name, summary: "" }))],
    flags: [...flagsOf(command), HELP_FLAG],
    files: subs.length === 0 && choices.length === 0,
  };
  return [node, ...subs.flatMap((sub) => nodesOf(sub, `${path} ${sub.name}`))];
}

function flagsOf(command: Command): CompletionFlag[] {
  return Object.entries(command.flags ?? {}).map(([long, spec]) => {
    const choices = FLAG_CHOICES[long];
    return {
      long,
      ...(spec.short ? { short: spec.short } : {}),
      takesValue: spec.type === "string",
      ...(choices && spec.type === "string" ? { choices } : {}),
    };
  });
}

function word(command: Command): { name: string; summary: string } {
  return { name: command.name, summary: command.summary };
}

/** `--config`, `-c`: every spelling of the flags at a node. */
export function spellings(flags: readonly CompletionFlag[], which: "all" | "value" = "all"): string[] {
  return flags.filter((f) => which === "all" || f.takesValue).flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]);
}
