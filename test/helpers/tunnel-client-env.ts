/**
 * What the e2e tests of `credproxy tunnel` share about the client side: the environment the
 * compiled binary runs with against the fakes, and the clean-up of tunnel processes a failed
 * test left running (found through their state records).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv } from "./binary.ts";
import { DUMMY_CREDENTIALS, FAKE_REGION } from "./fake-ssm/call-ssm-api.ts";

/** Dummy keys, the fakes' endpoints, ws:// allowed, state under `runtimeDir`; nothing from the host. */
export function tunnelClientEnv(endpoints: { ssm: string; ec2: string }, runtimeDir: string): Record<string, string> {
  return cleanEnv({
    AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey,
    AWS_REGION: FAKE_REGION,
    AWS_ENDPOINT_URL_SSM: endpoints.ssm,
    AWS_ENDPOINT_URL_EC2: endpoints.ec2,
    CREDPROXY_INSECURE_STREAM_URL: "1",
    CREDPROXY_RUNTIME_DIR: runtimeDir,
  });
}

/** SIGKILLs the process of every tunnel record under `runtimeDir` (for afterAll). */
export function killRecordedTunnels(runtimeDir: string): void {
  const dir = join(runtimeDir, "tunnels");
  for (const file of runtimeDir && existsSync(dir) ? readdirSync(dir) : []) {
    if (!file.endsWith(".json")) continue;
    try {
      process.kill((JSON.parse(readFileSync(join(dir, file), "utf8")) as { pid: number }).pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}

/** Whether `pid` has exited (gone, or a zombie nobody has reaped yet). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? true;
}
