/**
 * Start-up hardening of the compiled binary (security review item 7): credproxy runs as an
 * unprivileged uid, and another process of that same uid can read neither its environment nor
 * its memory (PR_SET_DUMPABLE 0 makes its /proc entries root's), while it can read those of an
 * ordinary process of the uid (the control); its core-size limits are 0.
 */
import { describe, expect, test } from "bun:test";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BINARY_PATH, spawnCredproxy, tempDir } from "../helpers/binary.ts";
import { killChild, orphanGuard, trackChild } from "../helpers/cleanup.ts";
import { freePort } from "../helpers/ports.ts";

const SETPRIV = Bun.which("setpriv");
const canRun = process.platform === "linux" && process.getuid?.() === 0 && SETPRIV !== null;
if (!canRun) console.warn("SKIP: core-dump hardening test needs Linux, root and setpriv");
const AS_NOBODY = [SETPRIV ?? "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"];

/** `cat path` as uid 65534, as the attacker of the same uid would. */
function readAsNobody(path: string): { code: number; stderr: string } {
  const run = Bun.spawnSync([...AS_NOBODY, "cat", path], { stdout: "ignore", stderr: "pipe" });
  return { code: run.exitCode, stderr: run.stderr.toString() };
}

describe.skipIf(!canRun)("credproxy hides its memory from other processes of its uid", () => {
  test("environ of a running credproxy is unreadable to its own uid, its core limit is 0, and an ordinary process's environ is readable", async () => {
    const dir = await tempDir("credproxy-dump-");
    await chmod(dir, 0o755);
    const config = join(dir, "config.yaml");
    await writeFile(
      config,
      [
        `server: { port: ${await freePort()} }`,
        "aws_defaults: { region: us-east-1, sts_endpoint: \"http://127.0.0.1:9\", iam_keys: { aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: secretsecretsecret } }",
        "services: { app: { auth_token: dump-test-token-0123456789abcdef, assumed_role: { RoleArn: \"arn:aws:iam::123456789012:role/r\", RoleSessionName: dump } } }",
      ].join("\n"),
    );
    await chmod(config, 0o644);
    const serve = spawnCredproxy([...AS_NOBODY.slice(1), BINARY_PATH, "serve", "--config", config], { binary: AS_NOBODY[0]!, cwd: "/" });
    const control = Bun.spawn(orphanGuard([...AS_NOBODY, "sleep", "60"]), { stdout: "ignore", stderr: "ignore" });
    trackChild(control);
    try {
      await serve.waitForLine(/credproxy serve listening/, 15_000);
      const status = await Bun.file(`/proc/${serve.pid}/status`).text();
      expect(status).toMatch(/^Uid:\s+65534\s/m); // the pid is credproxy itself, running as 65534

      const limits = await Bun.file(`/proc/${serve.pid}/limits`).text();
      expect(limits).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);

      expect(readAsNobody(`/proc/${control.pid}/environ`)).toEqual({ code: 0, stderr: "" });
      const denied = readAsNobody(`/proc/${serve.pid}/environ`);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toContain("Permission denied");
      expect(readAsNobody(`/proc/${serve.pid}/mem`).stderr).toContain("Permission denied");
    } finally {
      await Promise.all([serve.kill("SIGTERM", 5000), killChild(control, "SIGKILL")]);
    }
  }, 30_000);
});
