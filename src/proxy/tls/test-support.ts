/**
 * Helpers for the TLS tests: running openssl and other real clients, and writing PEM files.
 * Child processes are awaited, never run synchronously, because the TLS server under test
 * lives in the test's own event loop.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function run(cmd: string[], options: { stdin?: string } = {}): Promise<Ran> {
  const proc = Bun.spawn(cmd, { stdin: options.stdin === undefined ? "ignore" : "pipe", stdout: "pipe", stderr: "pipe" });
  if (options.stdin !== undefined && proc.stdin) {
    proc.stdin.write(options.stdin);
    await proc.stdin.end();
  }
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** `openssl verify -x509_strict` of `leafPem` against `caPem` alone. */
export async function opensslVerify(caPem: string, leafPem: string): Promise<Ran> {
  const dir = tempDirSync("credproxy-verify-");
  const ca = writePem(dir, "ca.pem", caPem);
  const leaf = writePem(dir, "leaf.pem", leafPem);
  return run(["openssl", "verify", "-x509_strict", "-CAfile", ca, leaf]);
}

/** openssl's text dump of a certificate. */
export async function opensslText(pem: string): Promise<string> {
  const result = await run(["openssl", "x509", "-noout", "-text"], { stdin: pem });
  if (result.code !== 0) throw new Error(`openssl x509 failed: ${result.stderr}`);
  return result.stdout;
}

export function writePem(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
