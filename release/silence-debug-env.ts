/**
 * A Bun build plugin that removes the debug switches the bundled `yaml` library reads from the
 * environment: with LOG_TOKENS or LOG_STREAM set, yaml prints every token it parses to stdout,
 * which for credproxy means auth tokens and keys from the config. `define` cannot reach them
 * (yaml reads them as `node_process.env.X` through its own `require("process")`), so the two
 * files are rewritten at load time. The build fails if a yaml upgrade moves or renames them, so
 * the switch cannot come back unnoticed.
 */
import type { BunPlugin } from "bun";
import { readFile } from "node:fs/promises";

/** Environment variables that make a dependency print what it parses. */
export const DEBUG_ENV_SWITCHES = ["LOG_TOKENS", "LOG_STREAM"] as const;

/** yaml's files that read them, as a path suffix under node_modules/yaml/dist. */
const FILES = /[\\/]node_modules[\\/]yaml[\\/]dist[\\/](parse[\\/]parser|compose[\\/]composer)\.js$/;
const READ = new RegExp(`\\b[A-Za-z_$][\\w$]*\\.env\\.(${DEBUG_ENV_SWITCHES.join("|")})\\b`, "g");

export const silenceDebugEnv: BunPlugin = {
  name: "silence-debug-env",
  setup(build) {
    build.onLoad({ filter: FILES }, async ({ path }) => {
      const source = await readFile(path, "utf8");
      const contents = neutraliseDebugReads(source, path);
      return { contents, loader: "js" };
    });
  },
};

/** `source` with every `<x>.env.LOG_TOKENS`/`LOG_STREAM` read replaced by `false`; throws if there is none or one is left. */
export function neutraliseDebugReads(source: string, path: string): string {
  let count = 0;
  const out = source.replace(READ, () => {
    count++;
    return "false";
  });
  if (count === 0 || DEBUG_ENV_SWITCHES.some((name) => out.includes(name))) {
    throw new Error(`${path}: expected yaml's ${DEBUG_ENV_SWITCHES.join("/")} debug reads (${count} replaced); update release/silence-debug-env.ts for this yaml version`);
  }
  return out;
}
