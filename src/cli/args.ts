import { parseArgs, type ParseArgsConfig } from "node:util";
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
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, allowNegative: negatable, strict: true });
  } catch (error) {
    throw usageError(command, cleanParseMessage(error));
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

function cleanParseMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // parseArgs adds a long tip about "--" to unknown-option errors; keep the first sentence.
  return text.split(/\. To specify| To specify/)[0]!.replace(/^Unknown option '(.+)'$/, 'unknown flag "$1"');
}
