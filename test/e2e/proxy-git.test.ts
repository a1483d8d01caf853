/**
 * git clone and push over HTTPS through the compiled `credproxy proxy`. The git origin answers
 * 401 to anything but the exact Authorization header; git itself has no credential (no helper,
 * no prompt, no config), only HTTPS_PROXY and GIT_SSL_CAINFO from `proxy env`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { runGit, startGitOrigin, type GitOrigin } from "../helpers/git-origin.ts";
import { makeTestPki } from "../helpers/test-ca.ts";
import { startProxy } from "./proxy-fixture.ts";

const TOKEN = "git-e2e-token-6Wn3Qv8Lr1Xs5Jh";

let git: GitOrigin;
let home: string;
let work: string;
let env: Record<string, string>;

beforeAll(async () => {
  const pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  git = await startGitOrigin({ pki, requireAuth: `Bearer ${TOKEN}` });
  const proxy = await startProxy(
    `
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${git.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: git-token
    host: localhost:${git.port}
    value: "Bearer ${TOKEN}"
`,
  );
  const sandbox = await proxy.sandboxEnv();
  // Only these two: NO_PROXY would exempt localhost, where the test origin listens.
  env = { HTTPS_PROXY: sandbox.HTTPS_PROXY!, GIT_SSL_CAINFO: sandbox.GIT_SSL_CAINFO! };
  home = await tempDir();
  work = await tempDir();
});
afterAll(cleanupAll);

const gitIn = (cwd: string, args: string[]) => runGit(args, { cwd, home, env });

describe("git through credproxy proxy", () => {
  test("git without the proxy is refused by the origin: the credential is not git's", async () => {
    const r = await runGit(["ls-remote", git.url("localhost")], { cwd: work, home, env: { GIT_SSL_NO_VERIFY: "1" } });
    expect(r.code).not.toBe(0);
    expect(git.requests.at(-1)?.status).toBe(401);
  });

  test("git clone over HTTPS gets the repository, every request carrying the injected token", async () => {
    const before = git.requests.length;
    const r = await gitIn(work, ["clone", "-q", git.url("localhost"), "clone"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const head = await gitIn(join(work, "clone"), ["rev-parse", "HEAD"]);
    expect(head.stdout.trim()).toBe(git.initialCommit);
    const seen = git.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((q) => q.authorized && q.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  test("git push over HTTPS lands the new commit in the origin's repository", async () => {
    const clone = join(work, "clone");
    await writeFile(join(clone, "pushed.txt"), "pushed through credproxy\n");
    expect((await gitIn(clone, ["add", "pushed.txt"])).code).toBe(0);
    expect((await gitIn(clone, ["commit", "-q", "-m", "through the proxy"])).code).toBe(0);
    const pushed = await gitIn(clone, ["push", "-q", "origin", "main"]);
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    const local = (await gitIn(clone, ["rev-parse", "HEAD"])).stdout.trim();
    const remote = await runGit(["--git-dir", git.repoPath, "rev-parse", "main"], { cwd: work, home });
    expect(remote.stdout.trim()).toBe(local);
    expect(git.requests.some((q) => q.method === "POST" && q.path.endsWith("/git-receive-pack") && q.authorized && q.status === 200)).toBe(true);
  });
});
