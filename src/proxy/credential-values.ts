/**
 * The current value of each credential, fetched when a request needs it, never at load only:
 *
 * - a `value:` template is expanded on use (one that names no file, once). A ${fromFile:} file is read again when its stat
 *   (inode, size, mtime) changes, looked at no more than once a second, so a token rotated on
 *   disk is sent from the next request on without a reload; `refresh()` (after an upstream
 *   401/403) forgets what was read so the next use reads the files again;
 * - a `command:` is run like credential_process (argv, no shell, a timeout) and its value
 *   kept until the Expiration it states (less a minute) or for ttl_seconds.
 *
 * Values live only here and in the header they are written to; errors name the credential,
 * the file or the command, never a value.
 */
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { readRegularFile } from "../config/checked-file.ts";
import { FROM_FILE_MAX_BYTES } from "../config/parse-limits.ts";
import { substituteString, type Env } from "../config/substitute.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { CredentialSpec } from "./config/proxy-config.ts";

const STAT_INTERVAL_MS = 1_000;
const EXPIRY_MARGIN_MS = 60_000;
const MAX_COMMAND_OUTPUT = 64 * 1024;

interface CachedFile {
  text: string;
  stamp: string;
  checkedAt: number;
}

export interface CredentialValuesOptions {
  readonly env?: Env;
  readonly now?: () => number;
}

export class CredentialValues {
  readonly #env: Env;
  readonly #now: () => number;
  readonly #files = new Map<string, CachedFile>();
  readonly #commands = new Map<string, { value: Promise<string>; until: number }>();
  /** Expanded templates that name no file: the environment they read does not change under a running process. */
  readonly #fixed = new WeakMap<CredentialSpec, string>();

  constructor(options: CredentialValuesOptions = {}) {
    this.#env = options.env ?? process.env;
    this.#now = options.now ?? Date.now;
  }

  /** The value to send now. Throws CredproxyError(SourceCredentials) when it cannot be had. */
  async value(credential: CredentialSpec): Promise<string> {
    const source = credential.value;
    if (source.kind === "template") {
      const fixed = this.#fixed.get(credential);
      if (fixed !== undefined) return fixed;
      const text = substituteString(source.template, { env: this.#env, readFile: (path) => this.#read(path) }, ["credentials", credential.name, "value"]);
      const value = headerSafe(credential.name, text.replace(/[\r\n]+$/, "")); // a token file's final newline is not part of it
      if (source.files.length === 0) this.#fixed.set(credential, value);
      return value;
    }
    const key = commandKey(credential);
    const cached = this.#commands.get(key);
    if (cached && cached.until > this.#now()) return cached.value;
    const value = runCommand(credential.name, source.argv, source.timeoutMs).then(({ value, expiration }) => {
      const until = expiration === undefined ? this.#now() + source.ttlSeconds * 1000 : expiration - EXPIRY_MARGIN_MS;
      const formatted = headerSafe(credential.name, source.format.replace("{}", value));
      this.#commands.set(key, { value: Promise.resolve(formatted), until });
      return formatted;
    });
    this.#commands.set(key, { value, until: Number.POSITIVE_INFINITY });
    value.catch(() => this.#commands.delete(key));
    return value;
  }

  /** An upstream refused the value (401/403): read the files again, run the command again. */
  refresh(credential: CredentialSpec): void {
    if (credential.value.kind === "template") for (const file of credential.value.files) this.#files.delete(file);
    else this.#commands.delete(commandKey(credential));
  }

  #read(path: string): string {
    const now = this.#now();
    const cached = this.#files.get(path);
    if (cached && now - cached.checkedAt < STAT_INTERVAL_MS) return cached.text;
    const stamp = fileStamp(path);
    if (cached && cached.stamp === stamp) {
      cached.checkedAt = now;
      return cached.text;
    }
    const text = readRegularFile(path, FROM_FILE_MAX_BYTES);
    this.#files.set(path, { text, stamp, checkedAt: now });
    return text;
  }
}

/** A value with CR, LF or NUL inside would split the header it is written to. */
function headerSafe(name: string, value: string): string {
  if (/[\r\n\0]/.test(value)) {
    throw new CredproxyError(ErrorCode.SourceCredentials, `credential "${name}": its value contains a line break or NUL, which no header may hold`, {
      hint: "check the file or variable the value comes from",
    });
  }
  return value;
}

function fileStamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return "missing";
  }
}

function commandKey(credential: CredentialSpec): string {
  return JSON.stringify([credential.name, credential.value.kind === "command" ? credential.value.argv : []]);
}

/**
 * Runs a credential command: stdout is JSON {"Value": "...", "Expiration": "RFC 3339"} or a
 * bare line. A non-zero exit, a timeout, empty or oversized output is an error naming the
 * command (argv[0]) and why; its stderr is not repeated, as it may echo a secret.
 */
export function runCommand(name: string, argv: readonly string[], timeoutMs: number): Promise<{ value: string; expiration?: number }> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) =>
      reject(
        new CredproxyError(ErrorCode.SourceCredentials, `credential "${name}": command ${argv[0]} ${why}`, {
          hint: "run the command by hand to see what it prints; it must print the value, or JSON with Value and Expiration",
        }),
      );
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "ignore"], timeout: timeoutMs, killSignal: "SIGKILL" });
    let out = "";
    let oversized = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (out.length > MAX_COMMAND_OUTPUT) {
        oversized = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", (error) => fail(`could not be started (${(error as { code?: string }).code ?? error.message})`));
    child.on("close", (code, signal) => {
      if (oversized) return fail(`printed more than ${MAX_COMMAND_OUTPUT} bytes`);
      if (signal) return fail(signal === "SIGKILL" ? `did not finish within ${timeoutMs} ms` : `was killed by ${signal}`);
      if (code !== 0) return fail(`exited with status ${code}`);
      const parsed = parseCommandOutput(out);
      if (typeof parsed === "string") return fail(parsed);
      resolve(parsed);
    });
  });
}

function parseCommandOutput(out: string): { value: string; expiration?: number } | string {
  const text = out.trim();
  if (text === "") return "printed nothing";
  if (!text.startsWith("{")) return text.includes("\n") ? "printed more than one line" : { value: text };
  let json: { Value?: unknown; Expiration?: unknown };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    return "printed text starting with { that is not JSON";
  }
  if (typeof json.Value !== "string" || json.Value === "") return 'printed JSON without a string "Value"';
  if (json.Expiration === undefined) return { value: json.Value };
  const expiration = typeof json.Expiration === "string" ? Date.parse(json.Expiration) : Number.NaN;
  if (Number.isNaN(expiration)) return '"Expiration" is not an RFC 3339 time';
  return { value: json.Value, expiration };
}
