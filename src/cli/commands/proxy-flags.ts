/**
 * Flags the proxy commands share: where the config is, and --listen HOST:PORT. The proxy's
 * modules are imported only when a proxy command runs, so serve's start-up never loads them.
 */
import type { ProxyConfigLocation } from "../../proxy/config/load-proxy-config.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { usageError } from "../args.ts";

export async function proxyLocation(command: string, flag: string | undefined): Promise<ProxyConfigLocation> {
  const { proxyConfigLocation } = await import("../../proxy/config/load-proxy-config.ts");
  const location = proxyConfigLocation(flag);
  if (!location) {
    throw new CredproxyError(ErrorCode.Usage, `${command}: no proxy config to read as neither HOME nor XDG_CONFIG_HOME is set`, { hint: `name the file: credproxy ${command} --config PATH` });
  }
  return location;
}

/** `127.0.0.1:3128`, `[::1]:0`, `0.0.0.0:3128`; port 0 picks a free one. */
export function parseListen(command: string, text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535) throw usageError(command, `invalid --listen "${text}" (HOST:PORT, e.g. 127.0.0.1:3128 or [::1]:3128; port 0 picks a free one)`);
  return { host: (match[1] ?? match[2])!, port };
}
