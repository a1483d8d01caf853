/**
 * Each command's `flags` is the object it parses with, and completion and the man page read it:
 * these tests keep it and the help text saying the same thing, for every command in the table
 * (commands added later included).
 */
import { describe, expect, test } from "bun:test";
import { commands, type Command } from "./index.ts";

function everyCommand(list: readonly Command[], prefix = ""): { path: string; command: Command }[] {
  return list.flatMap((c) => [{ path: `${prefix}${c.name}`, command: c }, ...everyCommand(c.subcommands ?? [], `${prefix}${c.name} `)]);
}

/** The flags an option line of the help starts with: "  -c, --config PATH   …" gives config. */
function optionLines(usage: string): string[] {
  return [...usage.matchAll(/^ {2,6}(?:-\w, )?--([a-z0-9][a-z0-9-]*)/gm)].map((m) => m[1]!);
}

describe("command flag tables", () => {
  const all = everyCommand(commands);

  test("every command that takes flags declares them (a command with subcommands lists those)", () => {
    for (const { path, command } of all) {
      if (command.hasSubcommands) expect({ path, subcommands: (command.subcommands ?? []).length > 0 }).toEqual({ path, subcommands: true });
      else expect({ path, declaresFlags: command.flags !== undefined }).toEqual({ path, declaresFlags: true });
    }
  });

  test("every flag a command parses is in its help, with its one-letter form", () => {
    for (const { path, command } of all) {
      for (const [name, spec] of Object.entries(command.flags ?? {})) {
        expect({ path, flag: name, inHelp: command.usage.includes(`--${name}`) }).toEqual({ path, flag: name, inHelp: true });
        if (spec.short) expect({ path, flag: name, short: command.usage.includes(`-${spec.short}, --${name}`) }).toEqual({ path, flag: name, short: true });
      }
    }
  });

  test("every flag an option line of the help names is one the command parses (or --help)", () => {
    for (const { path, command } of all) {
      const parsed = new Set([...Object.keys(command.flags ?? {}), "help"]);
      for (const flag of optionLines(command.usage)) expect({ path, flag, parsed: parsed.has(flag) }).toEqual({ path, flag, parsed: true });
    }
  });

  test("the help of the commands names the flags the option lines are read from", () => {
    // Guards the reader above: it finds serve's flags in serve's help.
    expect(optionLines(commands.find((c) => c.name === "serve")!.usage)).toEqual(expect.arrayContaining(["config", "validate-only", "log-level", "dev", "help"]));
  });
});
