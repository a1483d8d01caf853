/**
 * In a container credproxy is often PID 1, which gets no default signal handling: without
 * its own handlers SIGTERM would be ignored and the container killed after a timeout.
 * Here the binary runs as PID 1 of a fresh PID namespace.
 */
import { describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BINARY_PATH, cleanEnv, tempDir } from "../helpers/binary.ts";
import { trackChild } from "../helpers/cleanup.ts";
import { freePort } from "../helpers/ports.ts";
import { waitFor } from "../helpers/wait.ts";

const probe = Bun.spawnSync(["unshare", "--pid", "--fork", "--mount-proc", "true"]);
const canUnshare = probe.exitCode === 0;
if (!canUnshare) console.warn(`SKIP: PID 1 test, this kernel refuses PID namespaces: ${probe.stderr.toString().trim()}`);

describe("credproxy serve as PID 1", () => {
  test.skipIf(!canUnshare)("stops on SIGTERM with exit 0", async () => {
    const dir = await tempDir();
    const port = await freePort();
    const config = join(dir, "config.yaml");
    await writeFile(
      config,
      `server: { port: ${port} }\naws_defaults: { region: us-east-1 }\nservices:\n  app:\n    auth_token: pid1-token-0123456789\n    assumed_role: { RoleArn: "arn:aws:iam::123456789012:role/app" }\n`,
    );
    const proc = Bun.spawn(["unshare", "--pid", "--fork", "--mount-proc", BINARY_PATH, "serve", "--config", config], {
      env: await cleanEnv(),
      stdout: "ignore",
      stderr: "pipe",
    });
    trackChild(proc);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).status > 0, { timeoutMs: 10_000, what: "serve up" });
    // The forked child of unshare is credproxy, PID 1 inside the namespace.
    const child = Number((await readFile(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8")).trim().split(/\s+/)[0]);
    const nsPid = (await readFile(`/proc/${child}/status`, "utf8")).match(/^NSpid:\s+\d+\s+(\d+)/m)?.[1];
    expect(nsPid).toBe("1");
    const t0 = performance.now();
    process.kill(child, "SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
