/**
 * Helpers for the config tests only: in-memory files and env, YAML written indented in the test
 * body, and "this must throw a CredproxyError" with the error handed back for inspection.
 */
import { expect } from "bun:test";
import { CredproxyError, type ErrorCode } from "../errors.ts";
import { parseConfigText, type LoadOptions } from "./load.ts";
import type { ResolvedConfig } from "./types.ts";
import type { ReadFile } from "./substitute.ts";

export const ROLE_ARN = "arn:aws:iam::123456789012:role/App";

/** Strips the common indentation of a template literal, so test YAML can sit indented in code. */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values).replace(/^\n/, "");
  const indents = text.split("\n").filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)![0].length);
  const cut = Math.min(...indents);
  return text.split("\n").map((l) => l.slice(cut)).join("\n");
}

/** A ReadFile over an in-memory map; other paths fail with ENOENT like the real thing. */
export function memoryFiles(files: Record<string, string>): ReadFile {
  return (path) => {
    const content = files[path];
    if (content === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
    return content;
  };
}

/** A valid config with one service `app` (token "app-token-9Qm4Xr7Lz2Wk8Vn5B", region us-east-1); `extra` is appended at the top level. */
export function minimal(extra = ""): string {
  return `aws_defaults:\n  region: us-east-1\nservices:\n  app:\n    auth_token: app-token-9Qm4Xr7Lz2Wk8Vn5B\n    assumed_role:\n      RoleArn: ${ROLE_ARN}\n${extra}`;
}

export function load(text: string, opts: { env?: Record<string, string>; files?: Record<string, string> } = {}): ResolvedConfig {
  const options: LoadOptions = { env: opts.env ?? {}, readFile: memoryFiles(opts.files ?? {}) };
  return parseConfigText(text, "config.yaml", options);
}

/** Runs `fn`, which must throw a CredproxyError with `code`; returns it. */
export function thrown(fn: () => unknown, code?: ErrorCode): CredproxyError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CredproxyError);
    if (code !== undefined) expect((error as CredproxyError).code).toBe(code);
    return error as CredproxyError;
  }
  throw new Error("expected a CredproxyError, but nothing was thrown");
}

/** Async variant of thrown(). */
export async function rejected(promise: Promise<unknown>, code?: ErrorCode): Promise<CredproxyError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CredproxyError);
    if (code !== undefined) expect((error as CredproxyError).code).toBe(code);
    return error as CredproxyError;
  }
  throw new Error("expected a CredproxyError, but the promise resolved");
}
