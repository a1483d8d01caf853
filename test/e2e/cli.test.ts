import { describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCredproxy, spawnCredproxy, tempDir } from "../helpers/binary.ts";
import { freePort } from "../helpers/ports.ts";

const VALID = `
aws_defaults: { region: us-east-1 }
services:
  app:
    auth_token: tok-app-0123456789
    source_credentials: {}
    assumed_role: { RoleArn: "arn:aws:iam::123456789012:role/app" }
`;

async function configFile(content: string, name = "config.yaml"): Promise<string> {
  const path = join(await tempDir(), name);
  await writeFile(path, content);
  return path;
}

describe("credproxy CLI (compiled binary)", () => {
  test("--version prints the version and the git commit", async () => {
    const r = await runCredproxy(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^credproxy \d+\.\d+\.\d+ \(commit [0-9a-f]{7,}|unknown\)\n$/);
    expect((await runCredproxy(["serve", "--version"])).stdout).toBe(r.stdout);
  });

  test("help lists the commands and help serve shows its flags", async () => {
    const top = await runCredproxy(["help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("serve");
    expect(top.stdout).toContain("validate");
    const serve = await runCredproxy(["help", "serve"]);
    for (const flag of ["--config", "--validate-only", "--log-level", "--dev", "--version"]) expect(serve.stdout).toContain(flag);
  });

  test("help lists cleanup, and help cleanup says what it removes and where the records are", async () => {
    expect((await runCredproxy(["help"])).stdout).toMatch(/^  cleanup +Remove loopback addresses that killed credproxy runs left behind$/m);
    const r = await runCredproxy(["help", "cleanup"]);
    expect(r.code).toBe(0);
    for (const text of ["--dry-run", "/run/credproxy", "CREDPROXY_RUNTIME_DIR", "left alone"]) expect(r.stdout).toContain(text);
    const extra = await runCredproxy(["cleanup", "now"]);
    expect(extra.code).toBe(2);
  });

  test("an unknown flag is a usage error with exit 2", async () => {
    const r = await runCredproxy(["serve", "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown flag "--bogus"');
  });

  test("a bad --log-level value is a usage error with exit 2", async () => {
    const r = await runCredproxy(["serve", "--log-level", "loud", "--config", await configFile(VALID)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid --log-level "loud"');
  });

  test("an unknown command is a usage error with exit 2", async () => {
    const r = await runCredproxy(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });

  test("a misspelt command or flag gets a did-you-mean, and one dash on a long flag is named", async () => {
    const cases: [string[], string][] = [
      [["serv"], 'unknown command "serv"; did you mean "serve"?'],
      [["broker", "exce"], 'broker: unknown command "exce"; did you mean "exec"?'],
      [["help", "valdate"], 'help: unknown command "valdate"; did you mean "validate"?'],
      [["serve", "--confg", "x.yaml"], 'unknown flag "--confg"; did you mean "--config"?'],
      [["serve", "-config", "x.yaml"], '"-config" has a single dash; write --config'],
      [["serve", "--config"], "flag --config needs a value"],
      [["help", "broker", "exec", "extra"], 'help: unexpected argument "extra"'],
      [["validate", "--print-schema", "config.yaml"], '--print-schema prints the schema and reads no file, but "config.yaml" was given'],
    ];
    for (const [argv, message] of cases) {
      const r = await runCredproxy(argv);
      expect({ argv, code: r.code, stderr: r.stderr }).toEqual({ argv, code: 2, stderr: expect.stringContaining(message) });
    }
  });

  test("every long-running command takes --log-format json|text and --dev, and says so in its help", async () => {
    for (const command of [["serve"], ["broker", "serve"], ["broker", "imds"], ["broker", "exec"]]) {
      const help = await runCredproxy([...command, "--help"]);
      expect({ command, help: help.stdout.includes("--log-format FORMAT") && help.stdout.includes("--dev") }).toEqual({ command, help: true });
      const bad = await runCredproxy([...command, "--log-format", "xml", ...(command[1] === "exec" ? ["--", "true"] : [])]);
      expect({ command, code: bad.code, stderr: bad.stderr }).toEqual({ command, code: 2, stderr: expect.stringContaining('invalid --log-format "xml" (choose json or text)') });
    }
  });

  test("help help, bare credproxy and bare credproxy broker all show help and exit 0", async () => {
    const helpHelp = await runCredproxy(["help", "help"]);
    expect(helpHelp).toMatchObject({ code: 0, stdout: expect.stringContaining("Usage: credproxy help [command [subcommand]]") });
    expect(await runCredproxy([])).toMatchObject({ code: 0, stdout: expect.stringContaining("Commands:") });
    expect(await runCredproxy(["broker"])).toMatchObject({ code: 0, stdout: expect.stringContaining("Usage: credproxy broker <command>") });
  });

  test("validate --config PATH works like validate PATH, and both at once is refused", async () => {
    const file = await configFile(VALID);
    const r = await runCredproxy(["validate", "--config", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${file}: valid`);
    expect((await runCredproxy(["validate", "--config", file, file])).code).toBe(2);
  });

  test("validate accepts a valid config, prints what it would serve, and exits 0", async () => {
    const r = await runCredproxy(["validate", await configFile(VALID)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("valid");
    expect(r.stdout).toContain("app: arn:aws:iam::123456789012:role/app");
    expect(r.stdout).not.toContain("tok-app-0123456789");
  });

  test("serve --validate-only exits 0 for a valid config without serving", async () => {
    const r = await runCredproxy(["serve", "--validate-only", "--config", await configFile(VALID)]);
    expect(r.code).toBe(0);
  });

  test("an invalid config exits 1 naming the key path, the line and the fix", async () => {
    const bad = VALID.replace("role/app", "user/app").replace("region: us-east-1", "region: us-east-1, prot: 1");
    const path = await configFile(bad);
    for (const args of [["validate", path], ["serve", "--validate-only", "--config", path]]) {
      const r = await runCredproxy(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("error[E_CONFIG_INVALID]");
      expect(r.stderr).toContain("services.app.assumed_role.RoleArn");
      expect(r.stderr).toMatch(/config\.yaml:7:\d+/);
      expect(r.stderr).toContain("aws_defaults.prot");
    }
  });

  test("malformed YAML exits 1 with the line and column", async () => {
    const r = await runCredproxy(["validate", await configFile("services:\n  app: [unclosed\n")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[E_CONFIG_SYNTAX]");
    expect(r.stderr).toMatch(/config\.yaml:\d+:\d+/);
  });

  test("validate refuses hostile shapes at once, naming the limit and the line", async () => {
    const cases: [string, string][] = [
      // 15 KB of nesting took 8 s and 1.4 GB before the caps; 25,000 keys took 6 s.
      [`${VALID}x-deep: ${"{a: ".repeat(3000)}1${"}".repeat(3000)}\n`, "levels deep (the config file depth limit)"],
      [`${VALID}x-wide:\n${Array.from({ length: 25_000 }, (_, i) => `  k${i}: 1`).join("\n")}\n`, "(the config file node limit)"],
      [`${VALID}x-big: "${"x".repeat(1024 * 1024)}"\n`, "larger than 1048576 bytes (the config file size limit)"],
    ];
    for (const [content, limit] of cases) {
      // A liveness bound, not a benchmark: the process is killed (and the test fails) past it.
      const r = await runCredproxy(["validate", await configFile(content)], { timeoutMs: 5_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(limit);
      expect(r.stderr).toMatch(/config\.yaml(:\d+:\d+)? /);
    }
  });

  test("a missing config file exits 1 with one clear line and a hint", async () => {
    const r = await runCredproxy(["serve", "--config", "/nonexistent/credproxy.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[E_CONFIG_UNREADABLE]");
    expect(r.stderr).toContain("/nonexistent/credproxy.yaml");
  });

  test("a missing ${fromEnv:…} variable fails validation naming the variable", async () => {
    const r = await runCredproxy(["validate", await configFile(VALID.replace("tok-app-0123456789", "${fromEnv:APP_TOKEN}"))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("APP_TOKEN");
  });

  test("CREDPROXY_CONFIG_FILE is used when --config is absent, and an explicit --config wins", async () => {
    const good = await configFile(VALID);
    const viaEnv = await runCredproxy(["serve", "--validate-only"], { env: { CREDPROXY_CONFIG_FILE: good } });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stdout).toContain(good);
    const flagWins = await runCredproxy(["serve", "--validate-only", "--config", good], { env: { CREDPROXY_CONFIG_FILE: "/nonexistent.yaml" } });
    expect(flagWins.code).toBe(0);
  });

  test("without --config or CREDPROXY_CONFIG_FILE it reads /credproxy/config.yaml", async () => {
    const r = await runCredproxy(["validate"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/credproxy/config.yaml");
  });

  test("a .env or bunfig.toml in the working directory is not read", async () => {
    const dir = await tempDir();
    const good = await configFile(VALID);
    await writeFile(join(dir, ".env"), "CREDPROXY_CONFIG_FILE=/from/dotenv.yaml\n");
    await writeFile(join(dir, "bunfig.toml"), 'preload = ["./evil.ts"]\n');
    await writeFile(join(dir, "evil.ts"), 'console.error("EVIL PRELOAD RAN");\n');
    const r = await runCredproxy(["validate"], { cwd: dir, env: { CREDPROXY_CONFIG_FILE: good } });
    expect(r.stderr).not.toContain("EVIL PRELOAD RAN");
    expect(r.stderr).not.toContain("/from/dotenv.yaml");
    expect(r.code).toBe(0);
  });

  test("validate --print-schema prints the JSON Schema for editors", async () => {
    const r = await runCredproxy(["validate", "--print-schema"]);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["server", "services", "aws_defaults", "dynamic_services", "metrics"]));
  });

  test("the CredProxy command line without a subcommand still means serve", async () => {
    const r = await runCredproxy(["--config", await configFile(VALID), "--validate-only"]);
    expect(r.code).toBe(0);
  });

  test("a port already in use prints one clear line and exits 1", async () => {
    const port = await freePort();
    const blocker = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("busy") });
    try {
      const r = await runCredproxy(["serve", "--config", await configFile(VALID.replace("aws_defaults", `server: { port: ${port} }\naws_defaults`))]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("error["))).toHaveLength(1);
      expect(r.stderr).toContain(`127.0.0.1:${port}`);
      expect(r.stderr).toContain("already in use");
    } finally {
      blocker.stop(true);
    }
  });

  test("a taken metrics port fails the start too, rather than being only logged", async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const blocker = Bun.serve({ hostname: "127.0.0.1", port: metricsPort, fetch: () => new Response("busy") });
    try {
      const yaml = `${VALID}\nserver: { port: ${port} }\nmetrics: { prometheus: { port: ${metricsPort} } }\n`;
      const r = await runCredproxy(["serve", "--config", await configFile(yaml)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("metrics.prometheus.port");
    } finally {
      blocker.stop(true);
    }
  });

  test("SIGINT stops serve with exit 0", async () => {
    const port = await freePort();
    const p = await spawnCredproxy(["serve", "--config", await configFile(VALID.replace("aws_defaults", `server: { port: ${port} }\naws_defaults`))]);
    await p.waitForLine(/listening/);
    expect((await p.kill("SIGINT")).code).toBe(0);
  });
});
