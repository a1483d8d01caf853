import { describe, expect, test } from "bun:test";
import { CredproxyError } from "../errors.ts";
import { parseCommandArgs, type OptionSpec } from "./args.ts";

const OPTIONS = { config: { type: "string", short: "c" }, "log-level": { type: "string" }, dev: { type: "boolean" } } satisfies OptionSpec;

function usageMessage(argv: string[]): string {
  try {
    parseCommandArgs("serve", argv, OPTIONS, { min: 0, max: 1 });
  } catch (error) {
    expect(error).toBeInstanceOf(CredproxyError);
    return (error as CredproxyError).message;
  }
  throw new Error(`${argv.join(" ")} was accepted`);
}

describe("parseCommandArgs", () => {
  test("a misspelt flag is unknown, with the flag it probably means", () => {
    expect(usageMessage(["--confg", "x.yaml"])).toBe('serve: unknown flag "--confg"; did you mean "--config"?');
    expect(usageMessage(["--log-levle", "debug"])).toBe('serve: unknown flag "--log-levle"; did you mean "--log-level"?');
  });

  test("an unknown flag far from every known one gets no guess", () => {
    expect(usageMessage(["--frobnicate"])).toBe('serve: unknown flag "--frobnicate"');
  });

  test("a long flag written with one dash is refused instead of read as -c onfig", () => {
    expect(usageMessage(["-config", "x.yaml"])).toBe('serve: "-config" has a single dash; write --config');
    expect(usageMessage(["-log-level=debug"])).toBe('serve: "-log-level=debug" has a single dash; write --log-level=debug');
  });

  test("a flag missing its value says so in our words", () => {
    expect(usageMessage(["--config"])).toBe("serve: flag --config needs a value: --config VALUE (or --config=VALUE)");
    expect(usageMessage(["--log-level"])).toBe("serve: flag --log-level needs a value: --log-level VALUE (or --log-level=VALUE)");
  });

  test("a value given to a switch is refused", () => {
    expect(usageMessage(["--dev=yes"])).toBe("serve: flag --dev takes no value");
  });

  test("short flags, values and positionals still parse, and words after -- are left alone", () => {
    const parsed = parseCommandArgs("serve", ["-c", "a.yaml", "--dev", "--", "-config"], OPTIONS, { min: 0, max: 1 });
    expect(parsed.values).toEqual({ config: "a.yaml", dev: true });
    expect(parsed.positionals).toEqual(["-config"]);
  });
});
