/**
 * Verdaccio (an npm registry) on 127.0.0.1 for the npm-package test: storage in a temp dir,
 * no uplinks (nothing is fetched from or sent to npmjs.org), one user whose token publishes.
 * It comes from test/fixtures/verdaccio, installed by `.ci/run` (npm ci --prefix …).
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "./binary.ts";
import { killChild, onCleanup, orphanGuard, tempDir, trackChild } from "./cleanup.ts";
import { freePort } from "./ports.ts";
import { waitFor } from "./wait.ts";

export const VERDACCIO_BIN = join(REPO_ROOT, "test/fixtures/verdaccio/node_modules/verdaccio/bin/verdaccio");

export function verdaccioInstalled(): boolean {
  return existsSync(VERDACCIO_BIN);
}

export interface Verdaccio {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  /** An .npmrc with the registry and the publishing user's token. */
  readonly npmrc: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startVerdaccio(): Promise<Verdaccio> {
  const dir = await tempDir("verdaccio-");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = join(dir, "config.yaml");
  await writeFile(config, `storage: ${join(dir, "storage")}
auth:
  htpasswd:
    file: ${join(dir, "htpasswd")}
    max_users: 1
uplinks: {}
packages:
  "**":
    access: $all
    publish: $authenticated
max_body_size: 200mb
log: { type: stdout, format: pretty, level: warn }
`);
  const proc = Bun.spawn(orphanGuard(["node", VERDACCIO_BIN, "--config", config, "--listen", `127.0.0.1:${port}`]), { stdout: "pipe", stderr: "pipe", cwd: dir });
  trackChild(proc);
  let text = "";
  const decoder = new TextDecoder();
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      for await (const chunk of stream) text += decoder.decode(chunk);
    })();
  }
  const stop = () => killChild(proc, "SIGTERM");
  onCleanup(`verdaccio ${port}`, stop);
  await waitFor(async () => (await fetch(`${url}-/ping`).catch(() => undefined))?.ok === true, { timeoutMs: 30_000, what: `verdaccio on ${url} (log: ${text})` });
  // The publishing user, made through the registry's CouchDB-style user endpoint, as `npm adduser` does.
  const user = await fetch(`${url}-/user/org.couchdb.user:publisher`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "publisher", password: "publisher-password-0123" }),
  });
  const { token } = (await user.json()) as { token?: string };
  if (!user.ok || !token) throw new Error(`verdaccio made no user: ${user.status}`);
  const npmrc = join(dir, "npmrc");
  await writeFile(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
  return { url, npmrc, log: () => text, stop };
}
