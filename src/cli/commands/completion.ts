import { bashCompletion } from "../completion/bash-completion.ts";
import { commandTree } from "../completion/command-tree.ts";
import { fishCompletion } from "../completion/fish-completion.ts";
import { zshCompletion } from "../completion/zsh-completion.ts";
import { parseCommandArgs, usageError } from "../args.ts";
import { commands, type Command } from "./index.ts";

const SHELLS = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion } as const;

const USAGE = `Usage: credproxy completion bash|zsh|fish

Prints the shell completion script for credproxy's commands and flags (generated from the
same tables the command line is parsed with).

  bash   source <(credproxy completion bash)        e.g. in ~/.bashrc
  zsh    source <(credproxy completion zsh)         in ~/.zshrc, after compinit
  fish   credproxy completion fish > ~/.config/fish/completions/credproxy.fish

Options:
  -h, --help   Show this help`;

export const completionCommand: Command = {
  name: "completion",
  summary: "Print the shell completion script (bash, zsh or fish)",
  usage: USAGE,
  flags: {},
  argumentChoices: Object.keys(SHELLS),
  async run(argv) {
    const { positionals } = parseCommandArgs("completion", argv, {}, { min: 1, max: 1 });
    const shell = positionals[0]!;
    if (!Object.hasOwn(SHELLS, shell)) throw usageError("completion", `unknown shell "${shell}" (choose bash, zsh or fish)`);
    process.stdout.write(SHELLS[shell as keyof typeof SHELLS](commandTree(commands)));
    return 0;
  },
};
