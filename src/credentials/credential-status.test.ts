import { describe, expect, test } from "bun:test";
import { CredproxyError, ErrorCode } from "../errors";
import { credentialStatus, type CacheSnapshot } from "./credential-status";

const base: CacheSnapshot = { serving: false, refreshing: false, lastError: undefined, consecutiveFailures: 0, expiresAt: undefined, lastSuccessAt: undefined, nextAttemptAt: undefined };
const failure = new CredproxyError(ErrorCode.AssumeRole, "Cannot get credentials for service 'a': AccessDenied");

describe("credentialStatus", () => {
  test.each([
    ["nothing fetched yet", {}, "pending"],
    ["a first fetch in flight", { refreshing: true }, "pending"],
    ["valid credentials", { serving: true }, "ready"],
    ["valid credentials and a refresh in flight", { serving: true, refreshing: true }, "refreshing"],
    ["a failed attempt, still serving older credentials", { serving: true, lastError: failure }, "failing"],
    ["a failed attempt and nothing to serve", { lastError: failure }, "failing"],
  ] as const)("%s is %s", (_, snapshot, state) => {
    expect(credentialStatus({ ...base, ...snapshot }).state).toBe(state);
  });

  test("a failure carries its reason and code, and times become dates", () => {
    const status = credentialStatus({ ...base, lastError: failure, consecutiveFailures: 2, lastSuccessAt: 1000, nextAttemptAt: 5000 });
    expect(status).toEqual({
      state: "failing", serving: false, consecutiveFailures: 2, reason: failure.message, code: "E_ASSUME_ROLE",
      lastSuccessAt: new Date(1000), nextAttemptAt: new Date(5000),
    });
  });
});
