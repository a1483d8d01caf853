/** `credproxy --version --json`: what a bug report needs about the binary, baked in at build time. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { compile } from "../../build.ts";
import pkg from "../../package.json" with { type: "json" };
import { buildDate } from "../../src/version.ts";
import { REPO_ROOT, runCredproxy, tempDir } from "../helpers/binary.ts";

describe("credproxy --version --json", () => {
  test("prints one JSON object with the version, commit, build date, platform and Bun version", async () => {
    const r = await runCredproxy(["--version", "--json"]);
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith("}\n")).toBe(true);
    const info = JSON.parse(r.stdout) as Record<string, string>;
    expect(Object.keys(info).sort()).toEqual(["buildDate", "bun", "commit", "platform", "version"]);
    expect(info.version).toBe(pkg.version);
    expect(info.commit).toMatch(/^([0-9a-f]{12}|unknown)$/);
    expect(info.buildDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(info.platform).toBe(`${process.platform}-${process.arch}`);
    expect(info.bun).toBe(pkg.devDependencies.bun);
    // The plain line names the same version and commit.
    expect((await runCredproxy(["--version"])).stdout).toBe(`credproxy ${info.version} (commit ${info.commit})\n`);
    expect((await runCredproxy(["version", "--json"])).stdout).toBe(r.stdout);
  });

  test("an unknown flag after --version is a usage error, and --version --help shows its help", async () => {
    const bad = await runCredproxy(["--version", "--jsn"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown flag "--jsn"; did you mean "--json"?');
    const help = await runCredproxy(["--version", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--json");
  });

  test("a build with SOURCE_DATE_EPOCH reports that instant as its build date", async () => {
    const outfile = join(await tempDir("credproxy-epoch-"), "credproxy");
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = "1700000000";
    try {
      await compile({ outfile });
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
    const r = await runCredproxy(["--version", "--json"], { binary: outfile });
    expect(JSON.parse(r.stdout).buildDate).toBe("2023-11-14T22:13:20Z");
  }, 60_000);

  test("a build without SOURCE_DATE_EPOCH is dated by its commit, so rebuilding it later changes nothing", async () => {
    const outfile = join(await tempDir("credproxy-commit-date-"), "credproxy");
    const saved = process.env.SOURCE_DATE_EPOCH;
    delete process.env.SOURCE_DATE_EPOCH;
    try {
      await compile({ outfile });
    } finally {
      if (saved !== undefined) process.env.SOURCE_DATE_EPOCH = saved;
    }
    const git = Bun.spawnSync(["git", "log", "-1", "--format=%ct", "HEAD"], { cwd: REPO_ROOT });
    const committed = new Date(Number(git.stdout.toString().trim()) * 1000).toISOString().replace(/\.000Z$/, "Z");
    const r = await runCredproxy(["--version", "--json"], { binary: outfile });
    expect(JSON.parse(r.stdout).buildDate).toBe(committed);
  }, 60_000);

  test("buildDate() reads SOURCE_DATE_EPOCH, else the time it is given, and refuses a value that is not seconds", () => {
    const now = new Date("2026-01-02T03:04:05.678Z");
    expect(buildDate({}, now)).toBe("2026-01-02T03:04:05Z");
    expect(buildDate({ SOURCE_DATE_EPOCH: "" }, now)).toBe("2026-01-02T03:04:05Z");
    expect(buildDate({ SOURCE_DATE_EPOCH: "0" }, now)).toBe("1970-01-01T00:00:00Z");
    expect(() => buildDate({ SOURCE_DATE_EPOCH: "2023-11-14" }, now)).toThrow("SOURCE_DATE_EPOCH must be a whole number");
  });
});
