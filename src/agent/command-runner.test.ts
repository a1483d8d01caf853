import { describe, expect, test } from "bun:test";
import { spawnRunner } from "./command-runner.ts";

describe("spawnRunner()", () => {
  test("passes argv without a shell and returns exit code and output", async () => {
    const result = await spawnRunner()(["sh", "-c", 'echo "$0"; echo err >&2; exit 3', "a b;c"]);
    expect(result).toEqual({ code: 3, stdout: "a b;c\n", stderr: "err\n" });
  });

  test("feeds stdin when given (as nft -f - needs)", async () => {
    expect((await spawnRunner()(["cat"], "table inet x {}\n")).stdout).toBe("table inet x {}\n");
  });

  test("kills a command that outlives its timeout and reports code -1", async () => {
    const started = Date.now();
    const result = await spawnRunner(200)(["sleep", "30"]);
    expect(result.code).toBe(-1);
    expect(result.stderr).toContain("timed out after 200 ms");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("a binary that does not exist reports code 127 instead of throwing", async () => {
    const result = await spawnRunner()(["credproxy-no-such-binary-xyz"]);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain("credproxy-no-such-binary-xyz");
  });
});
