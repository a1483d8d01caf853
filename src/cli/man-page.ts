/**
 * The credproxy(1) man page in roff (man macros), generated from the help text: the top-level
 * help and every command's and subcommand's --help, so the page says what the binary says.
 */
import type { Command } from "./commands/index.ts";

export interface ManPageInput {
  /** `credproxy help`: its first line is "credproxy VERSION: what it is". */
  readonly topHelp: string;
  readonly commands: readonly Command[];
  readonly version: string;
  /** The page's date (YYYY-MM-DD): the build date, so two builds of one commit give one page. */
  readonly date: string;
}

export function manPage(input: ManPageInput): string {
  const [first = "", ...rest] = input.topHelp.split("\n");
  const what = first.includes(": ") ? first.slice(first.indexOf(": ") + 2) : first;
  const out = [
    `.TH CREDPROXY 1 "${input.date}" "credproxy ${input.version}" "User Commands"`,
    ".SH NAME",
    `credproxy \\- ${text(what)}`,
    ".SH SYNOPSIS",
    ".B credproxy",
    ".I command",
    "[\\fIoptions\\fR]",
    ".br",
    ".B credproxy help",
    "[\\fIcommand\\fR [\\fIsubcommand\\fR]]",
    ".SH DESCRIPTION",
    ...preformatted(rest.join("\n").trim()),
    ".SH COMMANDS",
    ...input.commands.flatMap((c) => section(c, `credproxy ${c.name}`)),
    ".SH EXIT STATUS",
    "0 on success, 1 when the work could not be done (one line on standard error says why), 2 for",
    "usage errors; \\fBbroker exec\\fR exits with its command's status.",
    ".SH BUGS",
    "Please include the output of \\fBcredproxy \\-\\-version \\-\\-json\\fR in a bug report.",
    "",
  ];
  return out.join("\n");
}

function section(command: Command, title: string): string[] {
  return [
    `.SS "${text(title)}"`,
    text(command.summary),
    ...preformatted(command.usage),
    ...(command.subcommands ?? []).flatMap((sub) => section(sub, `${title} ${sub.name}`)),
  ];
}

/** Help text as it is laid out (columns, indents), in a no-fill block. */
function preformatted(block: string): string[] {
  return [".PP", ".nf", ...block.split("\n").map((line) => (line === "" ? ".sp" : text(line))), ".fi"];
}

/** One line of text safe in roff: backslashes and minus signs escaped, no line read as a request. */
function text(line: string): string {
  const escaped = line.replaceAll("\\", "\\e").replaceAll("-", "\\-");
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}
