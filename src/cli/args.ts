import { parseArgs, type ParseArgsConfig } from "node:util";
import { closest } from "../config/problems.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/**
 * Strict flag parsing on top of node:util parseArgs (built in, so no dependency): unknown flags,
 * missing values and stray positionals become usage errors (exit 2) that name the command.
 */
export function parseCommandArgs<O extends OptionSpec>(
  command: string,
  argv: readonly string[],
  options: O,
  positionals: { min: number; max: number } = { min: 0, max: 0 },
  /** Accept --no-<flag> for boolean flags: only where a config file can turn a flag on. */
  negatable = false,
): { values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; allowNegative: true; strict: true }>>["values"]; positionals: string[] } {
  refuseSingleDashWords(command, argv, options);
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, allowNegative: negatable, strict: true });
  } catch (error) {
    throw usageError(command, parseErrorMessage(error, options));
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw usageError(command, `missing argument (expected ${positionals.min})`);
  if (count > positionals.max) {
    throw usageError(command, `unexpected argument "${parsed.positionals[positionals.max]}"`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

export function usageError(command: string, message: string): CredproxyError {
  return new CredproxyError(ErrorCode.Usage, `${command}: ${message}`, {
    hint: `run "credproxy help ${command}" for usage`,
  });
}

/**
 * `-config x` is read by parseArgs as `-c onfig x` when -c exists, and as unknown short flags
 * otherwise: a word after one dash that names (or nearly names) a long flag is refused first.
 */
function refuseSingleDashWords(command: string, argv: readonly string[], options: OptionSpec): void {
  for (const arg of argv) {
    if (arg === "--") return;
    const word = /^-([a-zA-Z][\w-]+)(=.*)?$/.exec(arg);
    if (!word) continue;
    const name = Object.hasOwn(options, word[1]!) ? word[1] : closest(word[1]!, Object.keys(options));
    if (name !== undefined) throw usageError(command, `"${arg}" has a single dash; write --${name}${word[2] ?? ""}`);
  }
}

/** parseArgs' messages in our words: the flag, what is wrong, and the likely spelling. */
function parseErrorMessage(error: unknown, options: OptionSpec): string {
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const flag = /'(?:-\w, )?(--?[\w-]+)/.exec(text)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag !== undefined) {
    const near = flag.startsWith("--") ? closest(flag.slice(2), Object.keys(options)) : undefined;
    return `unknown flag "${flag}"${near === undefined ? "" : `; did you mean "--${near}"?`}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag !== undefined) {
    if (text.includes("argument missing")) return `flag ${flag} needs a value: ${flag} VALUE (or ${flag}=VALUE)`;
    if (text.includes("does not take an argument")) return `flag ${flag} takes no value`;
  }
  // Anything else: the first sentence (parseArgs appends a long tip about "--").
  return text.split(/\. To specify| To specify/)[0]!;
}
