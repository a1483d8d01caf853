/**
 * moto_server as the STS/IAM stand-in, on loopback.
 *
 * Validating mode (the default for end-to-end tests) starts moto with
 * INITIAL_NO_AUTH_ACTION_COUNT equal to the exact number of setup calls made here. Once they
 * are spent, moto checks every signature, secret and session token, so credentials that
 * credproxy hands out are proven to sign real requests. Roles must therefore be created in
 * setup (`roles`); only a plain (non-validating) moto offers `createRole` later.
 *
 * Setup is plain form POSTs to moto's IAM query API; nothing is signed. moto routes an
 * unsigned request by the credential scope in its Authorization header, so each setup call
 * carries a routing-only header naming the `iam` service (never checked inside the no-auth
 * window). This is ~100x faster than one `aws iam …` subprocess per call (see report).
 */
import type { Subprocess } from "bun";
import { onCleanup, killChild, orphanGuard, tempDir, trackChild } from "./cleanup.ts";
import { freePort } from "./ports.ts";
import { xmlValue } from "./sts.ts";

export const ACCOUNT_ID = "123456789012";
export const DEFAULT_ROLES = ["role-a", "role-b", "role-c"] as const;

const FULL_ACCESS = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
});

/** Routing hint only: tells moto "this is IAM" for an otherwise unsigned request. */
const IAM_ROUTING_AUTH =
  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20000101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=unsigned";
const STS_ROUTING_AUTH =
  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20000101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=unsigned";

export interface MotoUser {
  userName: string;
  arn: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface MotoTimings {
  /** Spawn until moto first answered HTTP. */
  startMs: number;
  /** All IAM setup calls (user, key, policy, roles). */
  setupMs: number;
  /** Number of setup calls = INITIAL_NO_AUTH_ACTION_COUNT in validating mode. */
  setupCalls: number;
}

interface MotoBase {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  pid: number;
  /** The IAM user `dev` with full access, and its access key. */
  user: MotoUser;
  /** Roles created so far (all trust `user`, all have full-access inline policies). */
  readonly roles: readonly string[];
  roleArn(name: string): string;
  timings: MotoTimings;
  /** The last lines moto wrote (request log, tracebacks), for failure messages. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/** Signatures enforced; the role set is fixed at start. */
export interface ValidatingMoto extends MotoBase {
  validating: true;
}

/** Anything goes; roles can be added any time. */
export interface PlainMoto extends MotoBase {
  validating: false;
  createRole(name: string): Promise<string>;
}

export type Moto = ValidatingMoto | PlainMoto;

export interface MotoOptions {
  validating?: boolean;
  /** Roles created in setup; defaults to role-a, role-b, role-c. */
  roles?: readonly string[];
  /**
   * Principals every role's trust policy names; default only the dev user. moto checks trust
   * policies on AssumeRole with an exact ARN match (or "*"), so role chaining needs the
   * assumed-role session ARN here, e.g. `arn:aws:sts::123456789012:assumed-role/role-a/s`,
   * or `["*"]` (moto only understands a bare "*" as a wildcard).
   */
  trustedPrincipals?: readonly string[];
  /** Bound on waiting for moto to answer, default 20 s (2-core CI machines). */
  startTimeoutMs?: number;
}

export function startMoto(options: MotoOptions & { validating: true }): Promise<ValidatingMoto>;
export function startMoto(options?: MotoOptions & { validating?: false }): Promise<PlainMoto>;
export function startMoto(options?: MotoOptions): Promise<Moto>;
export async function startMoto(options: MotoOptions = {}): Promise<Moto> {
  const validating = options.validating ?? false;
  const roles = [...(options.roles ?? DEFAULT_ROLES)];
  const setupCalls = 3 + 2 * roles.length;
  const trusted = [...(options.trustedPrincipals ?? [`arn:aws:iam::${ACCOUNT_ID}:user/dev`])];
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(validating, roles, setupCalls, trusted, options.startTimeoutMs ?? 20_000);
    } catch (err) {
      lastError = err;
      // Only a lost race for the port is worth another try.
      if (!(err instanceof PortInUse)) throw err;
    }
  }
  throw lastError;
}

class PortInUse extends Error {}

class LineBuffer {
  private lines: string[] = [];
  private partial = "";
  constructor(private readonly max: number) {}
  push(chunk: string): void {
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }
  tail(n: number): string {
    return [...this.lines, this.partial].filter((l) => l !== "").slice(-n).join("\n");
  }
}

async function drain(stream: ReadableStream<Uint8Array>, into: LineBuffer): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.push(decoder.decode(chunk, { stream: true }));
}

async function startOnce(
  validating: boolean,
  roles: string[],
  setupCalls: number,
  trusted: string[],
  startTimeoutMs: number,
): Promise<Moto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const home = await tempDir("credproxy-moto-");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    LANG: "C.UTF-8",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
  };
  if (process.env.PYENV_ROOT) env.PYENV_ROOT = process.env.PYENV_ROOT;
  if (validating) env.INITIAL_NO_AUTH_ACTION_COUNT = String(setupCalls);

  const motoServer = Bun.which("moto_server", { PATH: env.PATH ?? "" });
  if (motoServer === null) throw new Error("moto_server is not on PATH: install moto>=5 with its server extra (see .ci/run)");
  const started = performance.now();
  let proc: Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn(orphanGuard([motoServer, "-H", "127.0.0.1", "-p", String(port)]), {
      env,
      cwd: home,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
  } catch (err) {
    throw new Error(`cannot start moto_server (is it on PATH? see .ci/run): ${String(err)}`);
  }
  trackChild(proc);
  const log = new LineBuffer(400);
  const drained = Promise.all([drain(proc.stdout, log), drain(proc.stderr, log)]).then(
    () => undefined,
    () => undefined,
  );
  const unregister = onCleanup(`moto ${port}`, () => killChild(proc));
  const stop = async (): Promise<void> => {
    unregister();
    await killChild(proc);
  };

  try {
    await waitUntilAnswering(endpoint, proc, log, drained, startTimeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  const startMs = performance.now() - started;

  const setupStarted = performance.now();
  const created: string[] = [];
  const roleArn = (name: string): string => `arn:aws:iam::${ACCOUNT_ID}:role/${name}`;
  let user: MotoUser;
  let calls = 0;
  const iam = async (params: Record<string, string>): Promise<string> => {
    calls++;
    return iamUnsigned(endpoint, params, log);
  };
  const createRole = async (name: string): Promise<string> => {
    const trust = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { AWS: trusted.length === 1 ? trusted[0] : trusted }, Action: ["sts:AssumeRole", "sts:TagSession"] }],
    });
    await iam({ Action: "CreateRole", RoleName: name, AssumeRolePolicyDocument: trust, MaxSessionDuration: "43200" });
    await iam({ Action: "PutRolePolicy", RoleName: name, PolicyName: "full-access", PolicyDocument: FULL_ACCESS });
    created.push(name);
    return roleArn(name);
  };
  try {
    const u = await iam({ Action: "CreateUser", UserName: "dev" });
    const k = await iam({ Action: "CreateAccessKey", UserName: "dev" });
    await iam({ Action: "PutUserPolicy", UserName: "dev", PolicyName: "full-access", PolicyDocument: FULL_ACCESS });
    user = {
      userName: "dev",
      arn: xmlValue(u, "Arn") ?? `arn:aws:iam::${ACCOUNT_ID}:user/dev`,
      accessKeyId: mustXml(k, "AccessKeyId"),
      secretAccessKey: mustXml(k, "SecretAccessKey"),
    };
    for (const r of roles) await createRole(r);
    if (validating) {
      if (calls !== setupCalls) throw new Error(`moto setup made ${calls} calls, budget was ${setupCalls}`);
      await assertBudgetSpent(endpoint, log);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const timings: MotoTimings = { startMs, setupMs: performance.now() - setupStarted, setupCalls: calls };

  const common = { endpoint, port, pid: proc.pid, user, roleArn, timings, logTail: (n = 40) => log.tail(n), stop };
  if (validating) {
    return {
      ...common,
      validating: true,
      get roles() {
        return [...created];
      },
    };
  }
  return {
    ...common,
    validating: false,
    get roles() {
      return [...created];
    },
    createRole: async (name: string) => {
      const arn = await createRole(name);
      timings.setupCalls = calls;
      return arn;
    },
  };
}

function mustXml(xml: string, tag: string): string {
  const v = xmlValue(xml, tag);
  if (v === undefined) throw new Error(`moto response lacks <${tag}>: ${xml.slice(0, 300)}`);
  return v;
}

async function iamUnsigned(endpoint: string, params: Record<string, string>, log: LineBuffer): Promise<string> {
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8", authorization: IAM_ROUTING_AUTH },
    body: new URLSearchParams({ ...params, Version: "2010-05-08" }).toString(),
  });
  const body = await res.text();
  if (res.status !== 200) {
    throw new Error(`moto IAM ${params.Action} → HTTP ${res.status}: ${body.slice(0, 400)}\n${log.tail(20)}`);
  }
  return body;
}

/**
 * After setup, an unsigned call with an unknown key must be refused. Refusals do not consume
 * the budget, so this costs nothing; if it were accepted the window was miscounted and every
 * "validating" assertion downstream would be worthless.
 */
async function assertBudgetSpent(endpoint: string, log: LineBuffer): Promise<void> {
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8", authorization: STS_ROUTING_AUTH },
    body: "Action=GetCallerIdentity&Version=2011-06-15",
  });
  const body = await res.text();
  if (res.status !== 403 || xmlValue(body, "Code") !== "InvalidClientTokenId") {
    throw new Error(`moto still accepts unauthenticated calls after setup (HTTP ${res.status}): ${body.slice(0, 200)}\n${log.tail(20)}`);
  }
}

async function waitUntilAnswering(
  endpoint: string,
  proc: Subprocess,
  log: LineBuffer,
  drained: Promise<void>,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  // /moto-api/* is served by moto itself and does not count against the no-auth budget.
  const probe = `${endpoint}/moto-api/config`;
  for (;;) {
    if (exited) {
      await drained.catch(() => undefined); // its last words explain why
      const tail = log.tail(30);
      if (/Address already in use|port .* is in use/i.test(tail)) throw new PortInUse(tail);
      throw new Error(`moto_server exited with ${proc.exitCode ?? proc.signalCode} before answering:\n${tail}`);
    }
    try {
      const res = await fetch(probe, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      throw new Error(`moto_server did not answer on ${endpoint} within ${timeoutMs} ms:\n${log.tail(30)}`);
    }
    await Bun.sleep(25);
  }
}
