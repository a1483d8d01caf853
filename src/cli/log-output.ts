/**
 * The log-output flags every long-running command takes: `--log-format json|text` and `--dev`
 * (text at debug level, unless --log-level says otherwise). Each command keeps its own default
 * format: JSON for serve (a container's log pipeline), text for broker exec (a terminal).
 */
import { usageError } from "./args.ts";

export const LOG_OUTPUT_FLAGS = {
  "log-format": { type: "string" },
  dev: { type: "boolean" },
} as const;

export type LogFormat = "json" | "text";

export interface LogOutput {
  /** The logger's format: "dev" is the human-readable text form. */
  readonly format: "json" | "dev";
  /** --dev was given: debug level unless a level is set explicitly. */
  readonly dev: boolean;
}

export function logOutput(command: string, values: { readonly "log-format"?: string | undefined; readonly dev?: boolean | undefined }, fallback: LogFormat): LogOutput {
  const dev = values.dev === true;
  const given = values["log-format"];
  if (given !== undefined && given !== "json" && given !== "text") throw usageError(command, `invalid --log-format "${given}" (choose json or text)`);
  if (dev && given === "json") throw usageError(command, "--dev means --log-format text; give one of them");
  const format = given ?? (dev ? "text" : fallback);
  return { format: format === "json" ? "json" : "dev", dev };
}

/** The two help lines, flags padded to `width` like the command's other lines. */
export function logOutputHelp(width: number, fallback: LogFormat): string {
  const line = (flag: string, text: string) => `      ${flag.padEnd(width)} ${text}`;
  return [line("--log-format FORMAT", `json or text. Default: ${fallback}`), line("--dev", "Text logs at debug level (same as --log-format text --log-level debug)")].join("\n");
}
