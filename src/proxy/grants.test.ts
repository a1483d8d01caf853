import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hostPatternMatches, parseHostPattern } from "./host-pattern.ts";
import { GRANT_DESCRIPTIONS, GRANT_NAMES, GRANTS, grantHosts } from "./grants.ts";

describe("GRANTS", () => {
  for (const [name, hosts] of Object.entries(GRANTS)) {
    test(`every host of the ${name} grant is a valid, already-canonical pattern`, () => {
      for (const text of hosts) {
        const parsed = parseHostPattern(text);
        expect(parsed).not.toHaveProperty("problem");
        if (!("problem" in parsed)) expect((parsed.wildcard ? "*." : "") + parsed.host).toBe(text);
      }
    });
  }

  test("every grant has a one-line description, and every description a grant", () => {
    expect(Object.keys(GRANT_DESCRIPTIONS).sort()).toEqual([...GRANT_NAMES].sort());
    for (const text of Object.values(GRANT_DESCRIPTIONS)) expect(text).not.toContain("\n");
  });

  test("GRANT_NAMES lists every grant", () => {
    expect(GRANT_NAMES).toEqual(Object.keys(GRANTS));
  });
});

describe("grantHosts()", () => {
  test("returns the parsed hosts of a grant", () => {
    expect(grantHosts("anthropic")?.map((p) => p.host)).toEqual(["api.anthropic.com"]);
  });

  test("a scoped grant such as github:repo looks up github", () => {
    expect(grantHosts("github:repo")).toBe(grantHosts("github")!);
  });

  test("an unknown grant has no hosts", () => {
    expect(grantHosts("gihtub")).toBeUndefined();
    expect(grantHosts("")).toBeUndefined();
  });

  test("the github grant covers what git and gh talk to, and not the apex of githubusercontent.com", () => {
    const github = grantHosts("github")!;
    const covers = (host: string) => github.some((p) => hostPatternMatches(p, { host, port: 443 }));
    for (const host of ["github.com", "api.github.com", "codeload.github.com", "uploads.github.com", "raw.githubusercontent.com", "objects.githubusercontent.com"]) {
      expect(covers(host)).toBe(true);
    }
    expect(covers("githubusercontent.com")).toBe(false);
    expect(covers("github.io")).toBe(false);
  });
});

describe("docs/proxy-grants.md", () => {
  test("lists exactly the grants, hosts and descriptions in GRANTS", () => {
    const doc = readFileSync(join(import.meta.dir, "../../docs/proxy-grants.md"), "utf8");
    const rows = doc.split("\n").filter((line) => /^\| `/.test(line));
    const documented = rows.map((line) => {
      const [name = "", hosts = "", description = ""] = line.slice(1, -1).split("|").map((cell) => cell.trim());
      return { name: name.replaceAll("`", ""), hosts: hosts.split(",").map((h) => h.trim().replaceAll("`", "")), description };
    });
    const expected = GRANT_NAMES.map((name) => ({ name, hosts: [...GRANTS[name]!], description: GRANT_DESCRIPTIONS[name]! }));
    expect(documented).toEqual(expected);
  });
});
