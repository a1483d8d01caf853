/**
 * A small structured logger: JSON lines by default (`level`, `time`, `msg`, then fields),
 * or a human-readable line with `--dev`. Writes to stderr so stdout stays free for commands
 * that print data (`validate --print-schema`).
 *
 * Secrets must never reach it: use `redact()` for anything token- or key-shaped.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Accepts our names and the Python logging names CredProxy users already type. */
export function parseLogLevel(value: string): LogLevel | undefined {
  const v = value.trim().toLowerCase();
  if (v === "warning") return "warn";
  if (v === "critical" || v === "fatal") return "error";
  return (LOG_LEVELS as readonly string[]).includes(v) ? (v as LogLevel) : undefined;
}

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: "json" | "dev";
  /** Where lines go; defaults to stderr. Tests pass an array push. */
  write?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const level = options.level ?? "info";
  const format = options.format ?? "json";
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const now = options.now ?? (() => new Date());
  const min = RANK[level];

  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < min) return;
    const all = fields ? { ...bound, ...fields } : bound;
    if (format === "json") {
      write(JSON.stringify({ level: lvl, time: now().toISOString(), msg, ...serializable(all) }));
    } else {
      const extra = Object.entries(serializable(all))
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      const time = now().toISOString().slice(11, 23);
      write(`${time} ${lvl.toUpperCase().padEnd(5)} ${msg}${extra ? "  " + extra : ""}`);
    }
  };

  return {
    level,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    enabled: (l) => RANK[l] >= min,
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** A logger that drops everything (for unit tests and library callers). */
export const silentLogger: Logger = createLogger({ write: () => {}, level: "error" });

function serializable(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out[k] = v instanceof Error ? { name: v.name, message: v.message, ...("code" in v ? { code: (v as { code: unknown }).code } : {}) } : v;
  }
  return out;
}

/**
 * Shows at most the last 4 characters of a secret: `…WXYZ`. Short values are fully hidden,
 * because 4 characters of a 6-character token is most of it.
 */
export function redact(secret: string | undefined | null): string {
  if (!secret) return "(empty)";
  if (secret.length < 12) return "…";
  return "…" + secret.slice(-4);
}
