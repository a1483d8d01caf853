/**
 * A git smart-HTTP origin over HTTPS: a bare repo with one commit, served by `git
 * http-backend` run as a CGI per request, behind an exact Authorization check. The proxy's
 * tests point real git clients at it to prove credentials are injected for clone and push.
 *
 * Requests without exactly the required Authorization header get 401 with
 * `WWW-Authenticate: Basic realm="git"`, the challenge git answers with its credential
 * helpers (so a test can also show that nothing leaks to a client that was not given the
 * secret).
 */
import type { Subprocess } from "bun";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { killChild, onCleanup, tempDir, trackChild } from "./cleanup.ts";
import { listenTracked } from "./listen-tracked.ts";
import type { TestPki } from "./test-ca.ts";
import { Condition } from "./wait.ts";

/** One request as the git origin saw and answered it. */
export interface GitRequest {
  seq: number;
  method: string;
  /** Path and query as sent. */
  path: string;
  /** Every header, names lower-cased; a repeated name becomes an array. */
  headers: Record<string, string | string[]>;
  /** Whether the Authorization header matched `requireAuth`. */
  authorized: boolean;
  /** Set once answered. */
  status: number | undefined;
  /** Request body size as received (git may gzip it). */
  bodyBytes: number;
}

export interface GitOrigin {
  readonly port: number;
  /** `https://<host>:<port>/repo.git`; host defaults to 127.0.0.1. */
  url(host?: string): string;
  /** The bare repository on disk (push lands here). */
  readonly repoPath: string;
  /** The commit the repository starts with (on `main`). */
  readonly initialCommit: string;
  readonly requests: GitRequest[];
  waitForRequests(check: (requests: GitRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface GitOriginOptions {
  pki: TestPki;
  /** The exact Authorization header value required, e.g. "Bearer t0ken" or "Basic dXNlcjpwYXNz"; null for none. */
  requireAuth: string | null;
}

/**
 * An environment for git that reads no system or user config and never prompts, so a missing
 * credential fails at once instead of hanging a test.
 */
export function gitEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "/bin/false",
    LC_ALL: "C",
    ...extra,
  };
}

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

const IDENTITY = ["-c", "user.name=credproxy test", "-c", "user.email=test@example.invalid", "-c", "credential.helper="];

/** Runs git with `gitEnv(home)`; never throws on a non-zero exit (tests assert on it). */
export async function runGit(args: string[], options: { cwd: string; home: string; env?: Record<string, string> }): Promise<GitResult> {
  const proc = Bun.spawn(["git", ...IDENTITY, ...args], { cwd: options.cwd, env: gitEnv(options.home, options.env), stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  trackChild(proc);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function mustGit(args: string[], cwd: string, home: string): Promise<string> {
  const r = await runGit(args, { cwd, home });
  if (r.code !== 0) throw new Error(`git ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** A bare repo `repo.git` under `root` holding one commit on main (README.md), receive-pack enabled. */
async function makeRepo(root: string): Promise<{ repoPath: string; initialCommit: string }> {
  const repoPath = join(root, "repos", "repo.git");
  const work = join(root, "seed");
  await mkdir(work, { recursive: true });
  await mustGit(["init", "-q", "--bare", "-b", "main", repoPath], root, root);
  await mustGit(["config", "http.receivepack", "true"], repoPath, root);
  await mustGit(["init", "-q", "-b", "main", work], root, root);
  await writeFile(join(work, "README.md"), "served by the credproxy test git origin\n");
  await mustGit(["add", "README.md"], work, root);
  await mustGit(["commit", "-q", "-m", "first commit"], work, root);
  await mustGit(["push", "-q", repoPath, "main"], work, root);
  return { repoPath, initialCommit: await mustGit(["rev-parse", "HEAD"], work, root) };
}

function headersOf(raw: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? "").toLowerCase();
    const value = raw[i + 1] ?? "";
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/** CGI/1.1 meta-variables for one request (RFC 3875 §4.1), headers as HTTP_*. */
function cgiEnv(req: IncomingMessage, projectRoot: string, home: string, authorized: boolean): Record<string, string> {
  const url = new URL(req.url ?? "/", "http://git.invalid");
  const env: Record<string, string> = {
    ...gitEnv(home),
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_SOFTWARE: "credproxy-test-git-origin",
    REQUEST_METHOD: req.method ?? "GET",
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: "1",
  };
  if (authorized) env.REMOTE_USER = "credproxy-test";
  const type = req.headers["content-type"];
  if (type !== undefined) env.CONTENT_TYPE = type;
  const length = req.headers["content-length"];
  if (length !== undefined) env.CONTENT_LENGTH = length;
  for (const [name, value] of Object.entries(req.headers)) {
    if (name === "authorization" || name === "proxy-authorization" || value === undefined) continue;
    env[`HTTP_${name.toUpperCase().replace(/-/g, "_")}`] = Array.isArray(value) ? value.join(", ") : value;
  }
  return env;
}

/** Splits CGI output at the blank line; null until the whole header block has arrived. */
function splitCgiHead(buf: Buffer): { head: string; rest: Buffer } | null {
  const crlf = buf.indexOf("\r\n\r\n");
  const lf = buf.indexOf("\n\n");
  const candidates = [crlf >= 0 ? { at: crlf, len: 4 } : null, lf >= 0 ? { at: lf, len: 2 } : null].filter((c) => c !== null);
  if (candidates.length === 0) return null;
  const first = candidates.reduce((a, b) => (b.at < a.at ? b : a));
  return { head: buf.subarray(0, first.at).toString("latin1"), rest: buf.subarray(first.at + first.len) };
}

/** Status from `Status:` (default 200) and the other CGI headers, in order. */
function parseCgiHead(head: string): { status: number; headers: [string, string][] } {
  let status = 200;
  const headers: [string, string][] = [];
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { status, headers };
}

/** Runs `git http-backend` for one request: body streamed to stdin, stdout parsed and streamed back. */
async function runBackend(req: IncomingMessage, res: ServerResponse, env: Record<string, string>, live: Set<Subprocess>, entry: GitRequest): Promise<void> {
  const proc = Bun.spawn(["git", "http-backend"], { env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  trackChild(proc);
  live.add(proc);
  void proc.exited.finally(() => live.delete(proc));
  req.on("data", (chunk: Buffer) => {
    entry.bodyBytes += chunk.length;
    try {
      proc.stdin.write(chunk);
    } catch {
      // The backend stopped reading (it exited); its answer says why.
    }
  });
  req.on("end", () => {
    try {
      void proc.stdin.end();
    } catch {
      // already closed
    }
  });
  req.on("error", () => void killChild(proc, "SIGKILL"));
  const stderr = new Response(proc.stderr).text();
  let buf: Buffer = Buffer.alloc(0);
  let started = false;
  for await (const chunk of proc.stdout) {
    if (started) {
      res.write(chunk);
      continue;
    }
    buf = Buffer.concat([buf, chunk]);
    const split = splitCgiHead(buf);
    if (split === null) continue;
    const { status, headers } = parseCgiHead(split.head);
    entry.status = status;
    res.writeHead(status, headers.flat());
    started = true;
    if (split.rest.length > 0) res.write(split.rest);
  }
  const code = await proc.exited;
  if (!started) {
    const why = (await stderr).trim();
    entry.status = 502;
    res.writeHead(502, { "content-type": "text/plain" });
    res.end(`git http-backend exited ${code} without a response: ${why}\n`);
    return;
  }
  res.end();
}

/** Starts the origin; `close()` (or the file's cleanupAll) stops it and kills in-flight backends. */
export async function startGitOrigin(options: GitOriginOptions): Promise<GitOrigin> {
  const root = await tempDir("credproxy-git-origin-");
  const { repoPath, initialCommit } = await makeRepo(root);
  const projectRoot = join(root, "repos");
  const requests: GitRequest[] = [];
  const changed = new Condition();
  const live = new Set<Subprocess>();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const raw = headersOf(req.rawHeaders);
    const auth = raw.authorization;
    const authorized = options.requireAuth === null || auth === options.requireAuth;
    const entry: GitRequest = { seq: requests.length + 1, method: req.method ?? "", path: req.url ?? "", headers: raw, authorized, status: undefined, bodyBytes: 0 };
    requests.push(entry);
    res.once("finish", () => changed.notify());
    changed.notify();
    if (!authorized) {
      entry.status = 401;
      req.resume();
      res.writeHead(401, { "www-authenticate": 'Basic realm="git"', "content-type": "text/plain" });
      res.end("authentication required\n");
      return;
    }
    runBackend(req, res, cgiEnv(req, projectRoot, root, authorized), live, entry).catch(() => res.destroy());
  };

  const http = createHttpServer(handle);
  const listener = createTlsServer({ key: options.pki.keyPem, cert: options.pki.certPem, ALPNProtocols: ["http/1.1"] }, (socket) => {
    http.emit("connection", socket);
  });
  const { port, stop } = await listenTracked(listener);
  let unregister = (): void => undefined;
  const close = async (): Promise<void> => {
    unregister();
    await stop();
    await Promise.all([...live].map((p) => killChild(p, "SIGKILL")));
  };
  unregister = onCleanup(`git origin :${port}`, close);
  return {
    port,
    url: (host = "127.0.0.1") => `https://${host}:${port}/repo.git`,
    repoPath,
    initialCommit,
    requests,
    waitForRequests: (check, timeoutMs = 5000) => changed.until(() => check(requests), timeoutMs, "git origin requests"),
    close,
  };
}
