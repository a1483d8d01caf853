/**
 * `broker exec --imds`: the command finds the role through IMDSv2 at 169.254.169.254, with no
 * container variables and no keys in its environment. In a network namespace this test makes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/binary.ts";

const ns = `cp-eximds-${process.pid}`;
const created = Bun.spawnSync(["ip", "netns", "add", ns]);
const ok = created.exitCode === 0 && Bun.spawnSync(["ip", "-n", ns, "link", "set", "lo", "up"]).exitCode === 0;
if (!ok) {
  if (process.env.CI) throw new Error(`network namespaces are required in CI: ${created.stderr.toString().trim()}`);
  console.warn(`SKIP: broker exec --imds test, cannot create a network namespace: ${created.stderr.toString().trim()}`);
}
afterAll(() => {
  Bun.spawnSync(["ip", "netns", "del", ns]);
});

type Run = { code: number; out: string; err: string };

describe.skipIf(!ok)("credproxy broker exec --imds", () => {
  let report: { before: string[]; after: string[]; boto3: Run; js: Run; error?: string };

  test("runs inside the namespace", async () => {
    const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, join(REPO_ROOT, "test/e2e/broker-exec-imds-scenario.ts")], {
      cwd: REPO_ROOT,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    report = JSON.parse(out.trim().split("\n").at(-1) ?? "{}");
    expect(report.error).toBeUndefined();
  }, 60_000);

  test("boto3 run under it gets the role from instance metadata (iam-role), not from the inherited container endpoint", () => {
    expect({ code: report.boto3.code, err: report.boto3.code === 0 ? "" : report.boto3.err }).toEqual({ code: 0, err: "" });
    const id = JSON.parse(report.boto3.out) as { arn: string; method: string };
    expect(id.arn).toBe("arn:aws:sts::123456789012:assumed-role/role-a/credproxy-broker");
    expect(id.method).toBe("iam-role");
  });

  test("the JS SDK default chain run under it gets the role too", () => {
    expect({ code: report.js.code, err: report.js.code === 0 ? "" : report.js.err }).toEqual({ code: 0, err: "" });
    expect((JSON.parse(report.js.out) as { arn: string }).arn).toBe("arn:aws:sts::123456789012:assumed-role/role-a/credproxy-broker");
  });

  test("the metadata address exists only while the command runs", () => {
    expect(report.before).not.toContain("169.254.169.254");
    expect(report.after).not.toContain("169.254.169.254");
  });
});
