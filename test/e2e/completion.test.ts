/**
 * `credproxy completion bash|zsh|fish`, loaded into the real shells from the compiled binary:
 * a subcommand, a flag and a flag's value complete, and what they offer is the command table.
 */
import { describe, expect, test } from "bun:test";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { commands } from "../../src/cli/commands/index.ts";
import { credproxyBinary, runCredproxy, tempDir } from "../helpers/binary.ts";

/** A shell, or a SKIP line (a failure under CI=true, where .ci/run installs it). */
function shell(name: string): string | undefined {
  const path = Bun.which(name);
  if (path) return path;
  if (process.env.CI) throw new Error(`${name} is required in CI (.ci/run installs it)`);
  console.warn(`SKIP: ${name} completion test: ${name} is not installed`);
  return undefined;
}

async function script(name: "bash" | "zsh" | "fish"): Promise<string> {
  const r = await runCredproxy(["completion", name]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const file = join(await tempDir("credproxy-completion-"), `credproxy.${name}`);
  await writeFile(file, r.stdout);
  return file;
}

function run(argv: string[], env: Record<string, string> = {}): { stdout: string; stderr: string; code: number } {
  const r = Bun.spawnSync(argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), code: r.exitCode };
}

describe("credproxy completion bash", () => {
  const bash = shell("bash");
  /** COMPREPLY after _credproxy with the words given and the cursor on the last one. */
  const complete = async (words: string[]): Promise<string[]> => {
    const file = await script("bash");
    const quoted = words.map((w) => `'${w}'`).join(" ");
    const r = run([bash!, "--norc", "--noprofile", "-c", `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _credproxy; printf '%s\\n' "\${COMPREPLY[@]}"`]);
    expect(r.stderr).toBe("");
    return r.stdout.split("\n").filter(Boolean);
  };

  test.skipIf(!bash)("completes a subcommand, a nested one, a flag and a flag's choices", async () => {
    expect(await complete(["credproxy", "se"])).toEqual(["serve"]);
    expect(await complete(["credproxy", "broker", "cr"])).toEqual(["credential-process"]);
    expect(await complete(["credproxy", "serve", "--log"])).toEqual(["--log-level", "--log-format"]);
    expect(await complete(["credproxy", "serve", "--log-level", ""])).toEqual(["debug", "info", "warn", "error"]);
    expect(await complete(["credproxy", "serve", "--log-format", "=", "t"])).toEqual(["text"]);
    expect(await complete(["credproxy", "completion", ""])).toEqual(["bash", "zsh", "fish"]);
    expect(await complete(["credproxy", "--version", "--j"])).toEqual(["--json"]);
  });

  test.skipIf(!bash)("a flag's value is not taken for a subcommand, and each node offers only its own flags", async () => {
    // "serve" here is proxy --config's value, not broker's or the top level's serve.
    expect(await complete(["credproxy", "proxy", "--config", "serve", ""])).toEqual(["env", "ca"]);
    expect(await complete(["credproxy", "broker", "imds", "--imds"])).toEqual(["--imds-v1"]);
    expect(await complete(["credproxy", "broker", "exec", "--imds"])).toEqual(["--imds"]);
    expect(await complete(["credproxy", "help", "broker", "i"])).toEqual(["imds"]);
  });
});

describe("credproxy completion fish", () => {
  const fish = shell("fish");
  /** fish's own completion of a command line, as `complete -C` prints it: word, tab, description. */
  const complete = async (line: string): Promise<string[]> => {
    const file = await script("fish");
    const home = await tempDir("credproxy-fish-home-");
    // fish finds the binary on PATH by the name being completed.
    const bin = join(home, "bin");
    await mkdir(bin);
    await symlink(credproxyBinary(), join(bin, "credproxy"));
    const r = run([fish!, "--no-config", "-c", `source '${file}'; complete -C '${line}'`], { HOME: home, XDG_CONFIG_HOME: join(home, ".config"), PATH: `${bin}:${process.env.PATH}` });
    expect(r.stderr).toBe("");
    return r.stdout.split("\n").filter(Boolean);
  };

  test.skipIf(!fish)("completes a subcommand with its summary, a flag and a flag's choices", async () => {
    expect(await complete("credproxy se")).toEqual(["serve\tServe ECS-style credentials to containers (CredProxy replacement)"]);
    expect((await complete("credproxy broker ")).map((l) => l.split("\t")[0])).toEqual(["credential-process", "exec", "imds", "serve"]);
    expect(await complete("credproxy broker exec --ro")).toEqual(["--role-arn"]);
    expect(await complete("credproxy serve --log-level ")).toEqual(["debug", "error", "info", "warn"]);
    expect(await complete("credproxy proxy --config serve ")).toEqual(expect.arrayContaining([expect.stringMatching(/^env\t/), expect.stringMatching(/^ca\t/)]));
  });
});

describe("credproxy completion zsh", () => {
  const zsh = shell("zsh");

  test.skipIf(!zsh)("parses, and its walk offers the subcommands, a node's flags and a flag's choices", async () => {
    const file = await script("zsh");
    expect(run([zsh!, "-n", file])).toEqual({ stdout: "", stderr: "", code: 0 });
    // Outside a completion widget, compadd and friends are stand-ins that print what they were given.
    const harness = join(await tempDir("credproxy-zsh-"), "harness.zsh");
    await writeFile(harness, `compadd() { while [[ $1 == -* && $1 != -- ]]; do shift; done; [[ $1 == -- ]] && shift; print -r -- "compadd $*"; }
_describe() { print -r -- "describe \${(j: :)\${(@)\${(P)4}%%:*}}"; }
_files() { print -r -- files; }
compset() { cur=\${cur#*=}; }
compdef() { :; }
source '${file}'
words=("\${(@s: :)1}"); CURRENT=$2
_credproxy
`);
    const at = (line: string, current: number) => run([zsh!, "-f", harness, line, String(current)]).stdout.trim();
    expect(at("credproxy se", 2)).toBe(`describe ${[...commands.map((c) => c.name), "help"].join(" ")}`);
    expect(at("credproxy broker x", 3)).toBe("describe exec serve credential-process imds");
    expect(at("credproxy healthcheck --t", 3)).toBe("compadd --timeout -t --help -h");
    expect(at("credproxy serve --log-level x", 4)).toBe("compadd debug info warn error");
    expect(at("credproxy serve --log-format=t", 3)).toBe("compadd json text");
    expect(at("credproxy validate x", 3)).toBe("files");
  });
});

describe("credproxy completion", () => {
  test("an unknown shell or none is a usage error", async () => {
    const r = await runCredproxy(["completion", "tcsh"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown shell "tcsh" (choose bash, zsh or fish)');
    expect((await runCredproxy(["completion"])).code).toBe(2);
  });
});
