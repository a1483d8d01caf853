import { BUILD_DATE, VERSION } from "../../version.ts";
import { parseCommandArgs } from "../args.ts";
import { manPage } from "../man-page.ts";
import { commands, type Command } from "./index.ts";

const USAGE = `Usage: credproxy man

Prints the credproxy(1) man page (roff), made from the help of every command. To read it:
credproxy man | man -l -    To install it: credproxy man > /usr/local/share/man/man1/credproxy.1

Options:
  -h, --help   Show this help`;

export const manCommand: Command = {
  name: "man",
  summary: "Print the credproxy(1) man page (roff), made from the help text",
  usage: USAGE,
  flags: {},
  async run(argv) {
    parseCommandArgs("man", argv, {});
    const { topHelp } = await import("../run.ts");
    // The build date keeps the page the same for two builds of one commit.
    const date = BUILD_DATE === "unknown" ? new Date().toISOString().slice(0, 10) : BUILD_DATE.slice(0, 10);
    process.stdout.write(manPage({ topHelp: topHelp(), commands, version: VERSION, date }));
    return 0;
  },
};
