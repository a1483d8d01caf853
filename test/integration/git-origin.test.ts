/** The git origin, driven by the real git CLI: clone and push with the header, 401 without. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect as netConnect } from "node:net";
import { cleanupAll, liveChildren, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { runGit, startGitOrigin, type GitOrigin } from "../helpers/git-origin.ts";
import { makeTestPki, type TestPki } from "../helpers/test-ca.ts";
import { deferred, withTimeout } from "../helpers/wait.ts";

const TOKEN = "Bearer git-t0ken-for-tests";

let pki: TestPki;
let origin: GitOrigin;
let home: string;

beforeAll(async () => {
  pki = await makeTestPki(await tempDir("credproxy-git-pki-"), { names: ["localhost"], ips: ["127.0.0.1"] });
  origin = await startGitOrigin({ pki, requireAuth: TOKEN });
  home = await tempDir("credproxy-git-client-");
});

afterAll(async () => {
  await cleanupAll();
  expect(liveChildren()).toEqual([]);
});

function withCa(extra: string[] = []): string[] {
  return ["-c", `http.sslCAInfo=${pki.caFile}`, ...extra];
}

describe("git origin", () => {
  test("git clones over HTTPS when it sends the required Authorization header", async () => {
    const dir = join(await tempDir("credproxy-git-clone-"), "repo");
    const before = origin.requests.length;
    const r = await runGit([...withCa(["-c", `http.extraHeader=Authorization: ${TOKEN}`]), "clone", "-q", origin.url(), dir], { cwd: home, home });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await readFile(join(dir, "README.md"), "utf8")).toContain("credproxy test git origin");
    const head = await runGit(["rev-parse", "HEAD"], { cwd: dir, home });
    expect(head.stdout.trim()).toBe(origin.initialCommit);
    const [refs, ...rest] = origin.requests.slice(before);
    expect(refs).toMatchObject({ method: "GET", path: "/repo.git/info/refs?service=git-upload-pack", status: 200, authorized: true });
    expect(refs?.headers.authorization).toBe(TOKEN);
    expect(rest.length).toBeGreaterThan(0);
    for (const q of rest) expect(q).toMatchObject({ method: "POST", path: "/repo.git/git-upload-pack", status: 200, authorized: true });
  });

  test("a new commit pushed with the header lands in the bare repository", async () => {
    const dir = join(await tempDir("credproxy-git-push-"), "repo");
    const auth = withCa(["-c", `http.extraHeader=Authorization: ${TOKEN}`]);
    expect((await runGit([...auth, "clone", "-q", origin.url(), dir], { cwd: home, home })).code).toBe(0);
    await writeFile(join(dir, "pushed.txt"), "pushed through the test origin\n");
    expect((await runGit(["add", "pushed.txt"], { cwd: dir, home })).code).toBe(0);
    expect((await runGit(["commit", "-q", "-m", "second commit"], { cwd: dir, home })).code).toBe(0);
    const local = (await runGit(["rev-parse", "HEAD"], { cwd: dir, home })).stdout.trim();
    const before = origin.requests.length;
    const push = await runGit([...auth, "push", "-q", "origin", "main"], { cwd: dir, home });
    expect(push.stderr).toBe("");
    expect(push.code).toBe(0);
    const remote = await runGit(["--git-dir", origin.repoPath, "rev-parse", "main"], { cwd: home, home });
    expect(remote.stdout.trim()).toBe(local);
    expect(local).not.toBe(origin.initialCommit);
    const receive = origin.requests.slice(before).find((q) => q.path === "/repo.git/git-receive-pack");
    expect(receive).toMatchObject({ method: "POST", status: 200, authorized: true });
    expect(receive?.bodyBytes).toBeGreaterThan(0);
  });

  test("without the header the clone fails, and the origin answered 401 with a Basic challenge", async () => {
    const dir = join(await tempDir("credproxy-git-noauth-"), "repo");
    const before = origin.requests.length;
    const r = await runGit([...withCa(), "clone", "-q", origin.url(), dir], { cwd: home, home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("could not read Username");
    const seen = origin.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((q) => q.status === 401 && !q.authorized)).toBe(true);
    const head = await curl(["--cacert", pki.caFile, "-D", "-", "-o", "/dev/null", `${origin.url()}/info/refs?service=git-upload-pack`]);
    expect(head.stdout).toStartWith("HTTP/1.1 401");
    expect(head.stdout).toContain('www-authenticate: Basic realm="git"');
  });

  test("a wrong token is refused like a missing one", async () => {
    const dir = join(await tempDir("credproxy-git-wrong-"), "repo");
    const before = origin.requests.length;
    const r = await runGit([...withCa(["-c", "http.extraHeader=Authorization: Bearer wrong"]), "clone", "-q", origin.url(), dir], { cwd: home, home });
    expect(r.code).not.toBe(0);
    expect(origin.requests.slice(before).map((q) => q.status)).toContain(401);
    expect(origin.requests.slice(before).some((q) => q.status === 200)).toBe(false);
  });

  test("the required header sent twice is not an exact match and gets 401", async () => {
    const url = `${origin.url()}/info/refs?service=git-upload-pack`;
    const once = await curl(["--cacert", pki.caFile, "-o", "/dev/null", "-w", "%{http_code}", "-H", `Authorization: ${TOKEN}`, url]);
    expect(once.stdout).toBe("200");
    const twice = await curl(["--cacert", pki.caFile, "-o", "/dev/null", "-w", "%{http_code}", "-H", `Authorization: ${TOKEN}`, "-H", `Authorization: ${TOKEN}`, url]);
    expect(twice.stdout).toBe("401");
    expect(origin.requests.at(-1)?.headers.authorization).toEqual([TOKEN, TOKEN]);
  });

  test("Basic credentials in the URL are sent after the challenge and accepted", async () => {
    const basic = await startGitOrigin({ pki, requireAuth: `Basic ${Buffer.from("alice:s3cret").toString("base64")}` });
    const dir = join(await tempDir("credproxy-git-basic-"), "repo");
    const url = basic.url().replace("https://", "https://alice:s3cret@");
    const r = await runGit([...withCa(), "clone", "-q", url, dir], { cwd: home, home });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(basic.requests[0]?.status).toBe(401);
    expect(basic.requests.slice(1).every((q) => q.authorized && q.status === 200)).toBe(true);
    await basic.close();
  });

  test("close() stops listening", async () => {
    const other = await startGitOrigin({ pki, requireAuth: TOKEN });
    await other.close();
    const refused = deferred<string>();
    const probe = netConnect(other.port, "127.0.0.1");
    probe.on("connect", () => refused.resolve("connected"));
    probe.on("error", (e: NodeJS.ErrnoException) => refused.resolve(e.code ?? "error"));
    expect(await withTimeout(refused.promise, 3000, "probe")).toBe("ECONNREFUSED");
    probe.destroy();
  });
});
