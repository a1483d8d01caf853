import { parseCommandArgs, usageError, type OptionSpec } from "../args.ts";
import type { Command } from "./index.ts";

const DEFAULT_URL = "http://127.0.0.1:1338/health";

const USAGE = `Usage: credproxy healthcheck [URL] [--timeout SECONDS]

Probes a running credproxy, for container HEALTHCHECKs in images without a shell or curl.
Exit 0 when URL answers 2xx within the timeout; otherwise exit 1 with one line on stderr.

Arguments:
  URL                  Default: ${DEFAULT_URL}; without a scheme, http:// is meant

Options:
  -t, --timeout SECS   Give up after this long (default 5)
  -h, --help           Show this help`;

const FLAGS = { timeout: { type: "string", short: "t" } } as const satisfies OptionSpec;

export const healthcheckCommand: Command = {
  name: "healthcheck",
  summary: "Probe a running credproxy's /health (exit 0 healthy, 1 not)",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values, positionals } = parseCommandArgs("healthcheck", argv, FLAGS, { min: 0, max: 1 });
    const url = parseUrl(positionals[0] ?? DEFAULT_URL);
    const timeoutSeconds = values.timeout === undefined ? 5 : Number(values.timeout);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
      throw usageError("healthcheck", `invalid --timeout "${values.timeout}" (a number of seconds greater than 0)`);
    }
    const verdict = await probe(url, timeoutSeconds);
    (verdict.ok ? process.stdout : process.stderr).write(`${verdict.line}\n`);
    return verdict.ok ? 0 : 1;
  },
};

/** `localhost:1338/health` means http://localhost:1338/health, as curl reads it. */
function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text.includes("://") ? text : `http://${text}`);
  } catch {
    throw usageError("healthcheck", `invalid URL "${text}" (for example ${DEFAULT_URL})`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw usageError("healthcheck", `unsupported URL scheme "${url.protocol}" (use http: or https:)`);
  return url;
}

/** One GET; the verdict line says what happened in terms a person reading `docker inspect` can use. */
export async function probe(url: URL, timeoutSeconds: number): Promise<{ ok: boolean; line: string }> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutSeconds * 1000), redirect: "manual" });
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === "TimeoutError" || name === "AbortError") return { ok: false, line: `unhealthy: ${url} did not answer within ${timeoutSeconds} s` };
    const code = (error as { code?: string }).code;
    const why = code === "ConnectionRefused" || code === "ECONNREFUSED" ? "connection refused" : (error as Error).message ?? String(error);
    return { ok: false, line: `unhealthy: cannot reach ${url}: ${why}` };
  }
  const body = await res.text().catch(() => "");
  if (res.status >= 200 && res.status < 300) return { ok: true, line: `healthy: ${url} answered ${res.status}` };
  return { ok: false, line: `unhealthy: ${url} answered ${res.status}${summary(body)}` };
}

/** For credproxy's own /health body: name the services that are not serving, and why. */
function summary(body: string): string {
  try {
    const report = JSON.parse(body) as { checks?: Record<string, { serving?: boolean; reason?: string }> };
    const failing = Object.entries(report.checks ?? {})
      .filter(([, c]) => c.serving === false)
      .map(([name, c]) => (c.reason ? `${name} (${c.reason})` : name));
    return failing.length > 0 ? `; not serving: ${failing.join("; ")}` : "";
  } catch {
    return "";
  }
}
