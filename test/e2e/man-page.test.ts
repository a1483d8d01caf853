/** `credproxy man`: the roff page made from the help, rendered by the real man(1) and groff. */
import { describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { commands, type Command } from "../../src/cli/commands/index.ts";
import { REPO_ROOT, runCredproxy, tempDir } from "../helpers/binary.ts";

function tool(name: string): string | undefined {
  const path = Bun.which(name);
  if (path) return path;
  if (process.env.CI) throw new Error(`${name} is required in CI (.ci/run installs it)`);
  console.warn(`SKIP: man page rendering: ${name} is not installed`);
  return undefined;
}

function paths(list: readonly Command[], prefix = "credproxy"): string[] {
  return list.flatMap((c) => [`${prefix} ${c.name}`, ...paths(c.subcommands ?? [], `${prefix} ${c.name}`)]);
}

async function page(): Promise<string> {
  const r = await runCredproxy(["man"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const file = join(await tempDir("credproxy-man-"), "credproxy.1");
  await writeFile(file, r.stdout);
  return file;
}

describe("credproxy man", () => {
  const man = tool("man");
  const groff = tool("groff");

  test.skipIf(!man)("man -l renders it with a heading for every command and subcommand and each one's help", async () => {
    const r = Bun.spawnSync([man!, "-l", await page()], { env: { PATH: process.env.PATH!, MANWIDTH: "120", MANPAGER: "cat", PAGER: "cat", LANG: "C.UTF-8" }, stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const text = r.stdout.toString();
    expect(text).toMatch(/^CREDPROXY\(1\) +User Commands +CREDPROXY\(1\)$/m);
    expect(text).toContain("credproxy - short-lived AWS credentials for the programs that need them");
    const headings = [...text.matchAll(/^ {3}(credproxy [a-z -]+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual(paths(commands));
    expect(headings).toContain("credproxy broker credential-process");
    // Each command's own help is in the page (flags spelled with plain ASCII minus signs).
    expect(text).toContain("--allow-descendants-of PID");
    expect(text).toContain("credproxy broker exec --profile dev -- aws s3 ls");
  });

  test.skipIf(!groff)("groff finds nothing to warn about in it", async () => {
    const r = Bun.spawnSync([groff!, "-man", "-Tutf8", "-ww", "-z", await page()], { stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("the build writes the same page to dist/credproxy.1, dated by the build", async () => {
    const built = await Bun.file(join(REPO_ROOT, "dist", "credproxy.1")).text();
    expect(built).toBe((await runCredproxy(["man"])).stdout);
    const buildDate = JSON.parse((await runCredproxy(["--version", "--json"])).stdout).buildDate as string;
    expect(built.split("\n")[0]).toBe(`.TH CREDPROXY 1 "${buildDate.slice(0, 10)}" "credproxy ${JSON.parse((await runCredproxy(["version", "--json"])).stdout).version}" "User Commands"`);
  });
});
