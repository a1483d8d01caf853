import { describe, expect, test } from "bun:test";
import { createLogger } from "../../log.ts";
import { logRequest, pathWithoutQueryValues } from "./request-log.ts";

describe("pathWithoutQueryValues", () => {
  test("keeps the parameter names and drops their values and the fragment", () => {
    expect(pathWithoutQueryValues("/search?q=secret&page=2#frag")).toBe("/search?q=…&page=…");
  });

  test("a path without a query is unchanged", () => {
    expect(pathWithoutQueryValues("/repos/a/b")).toBe("/repos/a/b");
  });

  test("a key-shaped parameter name is still only a name", () => {
    expect(pathWithoutQueryValues("/x?api_key=sk-live-123&&flag")).toBe("/x?api_key=…&flag=…");
  });
});

describe("logRequest", () => {
  test("one JSON line with the credential names, and refusals at warn", () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    logRequest(logger, { run: "ci-1", mode: "intercept", method: "GET", host: "api.github.com:443", path: "/u?token=abc", status: 200, bytes: 12, durationMs: 1.234, decision: "allow", credentials: ["github"] });
    logRequest(logger, { run: undefined, mode: "refused", method: "CONNECT", host: "evil.invalid:443", status: 407, durationMs: 0.5, decision: "denied", reason: "host-not-allowed" });
    const [ok, refused] = lines.map((l) => JSON.parse(l));
    expect(ok).toMatchObject({ level: "info", msg: "request", run: "ci-1", path: "/u?token=…", credentials: ["github"], duration_ms: 1.2 });
    expect(refused).toMatchObject({ level: "warn", msg: "request refused", reason: "host-not-allowed" });
    expect(lines.join("\n")).not.toContain("abc");
  });
});
