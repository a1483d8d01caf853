import { describe, expect, test } from "bun:test";
import { compilePythonMatch, translatePythonRegex } from "./python-regex.ts";

const matches = (pattern: string, name: string) => compilePythonMatch(pattern).test(name);
const refusal = (pattern: string) => {
  const t = translatePythonRegex(pattern);
  return "error" in t ? t.error : undefined;
};

describe("Python patterns, as CredProxy's re.match reads them", () => {
  test("plain patterns mean the same and are anchored at the start", () => {
    expect(matches("dev-.*\\.ya?ml$", "dev-a.yaml")).toBe(true);
    expect(matches("dev-.*\\.ya?ml$", "x-dev-a.yaml")).toBe(false);
    expect(matches("[^.].*\\.json", "a.json")).toBe(true);
  });

  test("\\A and \\Z are the start and end of the name, not the letters A and Z", () => {
    expect(matches("app\\Z", "app")).toBe(true);
    expect(matches("app\\Z", "appZ")).toBe(false);
    expect(matches("app\\Z", "app.yaml")).toBe(false);
    expect(matches("\\Aapp", "app.yaml")).toBe(true);
    expect(matches("(?m)app\\Z", "app\nx")).toBe(false);
  });

  test("leading inline flags become JavaScript flags", () => {
    expect(matches("(?i)DEV-", "dev-a.yaml")).toBe(true);
    expect(matches("(?s)a.b", "a\nb")).toBe(true);
    expect(matches("(?im)^x$", "y\nX")).toBe(false); // re.match anchors at the very start
    expect(compilePythonMatch("(?i)(?s)a").flags).toBe("is");
  });

  test("(?x) drops whitespace and comments outside classes", () => {
    expect(matches("(?x) dev - [ ]x  # a comment\n \\.yaml", "dev- x.yaml")).toBe(true);
    expect(matches("(?x) dev - [ ]x  # a comment\n \\.yaml", "dev - x.yaml")).toBe(false);
  });

  test("named groups and their back-references are translated", () => {
    expect(matches("(?P<env>dev|prod)-(?P=env)\\.yaml", "dev-dev.yaml")).toBe(true);
    expect(matches("(?P<env>dev|prod)-(?P=env)\\.yaml", "dev-prod.yaml")).toBe(false);
  });

  test("comments and the bell escape are translated, lookarounds kept", () => {
    expect(matches("a(?#note)b", "ab")).toBe(true);
    expect(matches("(?!backup-).*\\.yaml", "backup-x.yaml")).toBe(false);
    expect(matches("(?!backup-).*\\.yaml", "x.yaml")).toBe(true);
  });

  test.each([
    ["a(?i)b", "inline flags are translated only at the very start"],
    ["(?i:a)b", "(?flags:…) groups not at all"],
    ["(?L)a", "(?L) has no JavaScript equivalent"],
    ["(?>ab)", "atomic groups"],
    ["a++", "possessive quantifier"],
    ["(a)?(?(1)b|c)", "conditional groups"],
    ["\\N{DASH}", "\\N{…}"],
    ["\\e", "\\e means something else"],
    ["[a-z", "not closed"],
    ["a\\", "lone backslash"],
  ])("%p is refused: %s", (pattern, reason) => {
    expect(refusal(pattern)).toContain(reason);
  });
});
