/**
 * A credential's `placeholder:`, `require_placeholder:` and `env:` as written, checked and
 * resolved to the text the sandbox holds, and the checks that need the whole tenant: no
 * placeholder inside another (which one would a request carry?), none equal to a real value or
 * the run token, no two credentials printing into one variable, and no variable `proxy env`
 * already sets.
 */
import type { Problem } from "../../config/problems.ts";
import type { KeyPath } from "../../config/key-path.ts";
import { TRUST_VARIABLES } from "../sandbox-env.ts";
import { DEFAULT_LENGTH, DEFAULT_PREFIX, derivePlaceholder, MIN_DERIVED, type PlaceholderOwner } from "./derive-placeholder.ts";

export type RawPlaceholder = string | { readonly prefix?: string; readonly length?: number; readonly shape?: "jwt" };

export interface RawPlaceholderKeys {
  readonly placeholder?: RawPlaceholder;
  readonly require_placeholder: boolean;
  readonly placeholder_in_body: boolean;
  readonly env?: string;
}

/** At least this long: shorter text turns up by chance in paths, queries and headers. */
export const MIN_PLACEHOLDER = 16;
const LITERAL = /^[A-Za-z0-9._~-]+$/;

/** Variables `credproxy proxy env` prints itself. */
const SANDBOX_VARIABLES = new Set([
  "HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY", "no_proxy",
  "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
  ...TRUST_VARIABLES.map((v) => v.name),
]);

/** The placeholder text, or undefined (none, or a problem reported). */
export function resolvePlaceholder(raw: RawPlaceholderKeys, owner: PlaceholderOwner, path: KeyPath, problems: Problem[]): string | undefined {
  if (raw.placeholder === undefined) {
    for (const key of ["require_placeholder", "placeholder_in_body", "env"] as const) {
      if (raw[key] !== undefined && raw[key] !== false) problems.push({ path: [...path, key], message: `needs placeholder: beside it (the text the sandbox holds instead of the value); add placeholder: {prefix: "${DEFAULT_PREFIX}"} or remove ${key}` });
    }
    return undefined;
  }
  if (raw.env !== undefined && SANDBOX_VARIABLES.has(raw.env)) {
    problems.push({ path: [...path, "env"], at: "value", message: `${raw.env} is set by credproxy proxy env itself; name the variable the tool reads its key from, e.g. OPENAI_API_KEY` });
  }
  const at: KeyPath = [...path, "placeholder"];
  if (typeof raw.placeholder === "string") return literal(raw.placeholder, at, problems);
  const { prefix, length, shape } = raw.placeholder;
  if (shape === "jwt") {
    if (prefix !== undefined || length !== undefined) problems.push({ path: at, message: "shape: jwt makes the whole token; remove prefix and length" });
    return derivePlaceholder({ kind: "jwt" }, owner);
  }
  const start = prefix ?? DEFAULT_PREFIX;
  const total = length ?? Math.max(DEFAULT_LENGTH, start.length + MIN_DERIVED);
  if (total - start.length < MIN_DERIVED) {
    problems.push({ path: [...at, "length"], at: "value", message: `leaves ${Math.max(0, total - start.length)} characters after the ${start.length}-character prefix; make length at least ${start.length + MIN_DERIVED} so placeholders cannot be guessed or collide` });
    return undefined;
  }
  return derivePlaceholder({ kind: "prefixed", prefix: start, length: total }, owner);
}

function literal(text: string, path: KeyPath, problems: Problem[]): string | undefined {
  if (!LITERAL.test(text)) {
    problems.push({ path, at: "value", message: "may hold only letters, digits, - . _ ~ (characters that read the same raw and percent-encoded in a URL); use {prefix: …} for a derived one" });
    return undefined;
  }
  if (text.length < MIN_PLACEHOLDER || text.length > 512) {
    problems.push({ path, at: "value", message: `is ${text.length} characters; a placeholder needs ${MIN_PLACEHOLDER} to 512, so it never turns up by chance in a request (or use {prefix: "${DEFAULT_PREFIX}"} for a derived one)` });
    return undefined;
  }
  return text;
}

export interface PlaceholderEntry {
  readonly path: KeyPath;
  readonly name: string;
  readonly placeholder: string | undefined;
  readonly env: string | undefined;
  /** The expanded value:, when it has one (a command's output is not known at load). */
  readonly value: string | undefined;
  /** format: of a command: value. */
  readonly format: string;
}

/** A header scheme in front of the value: with a placeholder the value replaces the placeholder alone, so the scheme would be doubled. */
const SCHEME = /^(bearer|basic|token|bot)\s/i;

/** Problems between the credentials of one tenant; `token` is the run's (or the proxy's). */
export function tenantPlaceholderProblems(entries: readonly PlaceholderEntry[], token: string | undefined): Problem[] {
  const problems: Problem[] = [];
  const envs = new Map<string, string>();
  entries.forEach((entry, i) => {
    if (entry.env !== undefined) {
      const other = envs.get(entry.env);
      if (other !== undefined) problems.push({ path: [...entry.path, "env"], at: "value", message: `credential "${other}" already prints its placeholder into ${entry.env}; give each credential its own variable` });
      else envs.set(entry.env, entry.name);
    }
    const text = entry.placeholder;
    if (text === undefined) return;
    const at: KeyPath = [...entry.path, "placeholder"];
    const scheme = entry.value !== undefined ? SCHEME.exec(entry.value) : SCHEME.exec(entry.format);
    if (scheme) {
      const key = entry.value !== undefined ? "value" : "format";
      problems.push({ path: [...entry.path, key], message: `starts with "${scheme[1]} ", but with a placeholder the value replaces only the placeholder (the client keeps its own "${scheme[1]} "); make ${key} the bare secret` });
    }
    if (token !== undefined && (token.includes(text) || text.includes(token))) problems.push({ path: at, message: "overlaps the run token; a placeholder must be text of its own" });
    for (const other of entries) {
      if (other.value !== undefined && other.value.length >= 8 && (other.value.includes(text) || text.includes(other.value))) {
        problems.push({ path: at, message: `overlaps the real value of credential "${other.name}"; the sandbox would hold the secret itself: let the proxy derive one with {prefix: "${DEFAULT_PREFIX}"}` });
      }
    }
    for (const other of entries.slice(0, i)) {
      if (other.placeholder !== undefined && (other.placeholder.includes(text) || text.includes(other.placeholder))) {
        problems.push({ path: at, message: `${other.placeholder === text ? "is the same as" : "overlaps"} the placeholder of credential "${other.name}"; a request carrying one could not say which it means` });
      }
    }
  });
  return problems;
}
