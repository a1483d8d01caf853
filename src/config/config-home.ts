/** Where credproxy's per-user files live: $XDG_CONFIG_HOME (when absolute), else ~/.config; undefined with neither. */
import { isAbsolute, join } from "node:path";
import type { Env } from "./substitute.ts";

export function configHome(env: Env): string | undefined {
  if (env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME)) return env.XDG_CONFIG_HOME;
  return env.HOME ? join(env.HOME, ".config") : undefined;
}
