/**
 * Real SDK consumers against a container-credentials endpoint: boto3, the AWS CLI (v1) and the
 * AWS SDK for JavaScript v3 default chain. Each runs in a scrubbed environment that holds only
 * the container-credential variables, so whatever identity it prints came from the endpoint.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, cleanEnv, type EnvOverrides } from "./binary.ts";
import { killChild, tempDir, trackChild } from "./cleanup.ts";
import { assertLoopback } from "./loopback.ts";
import { withTimeout } from "./wait.ts";

export type ClientKind = "boto3" | "aws-cli" | "js-sdk";

export interface CredentialEndpoint {
  /** AWS_CONTAINER_CREDENTIALS_FULL_URI */
  fullUri: string;
  /** AWS_CONTAINER_AUTHORIZATION_TOKEN */
  token?: string;
  /** AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (SDKs want no trailing newline) */
  tokenFile?: string;
  /** AWS_ENDPOINT_URL_STS: where GetCallerIdentity goes (moto). */
  stsEndpoint: string;
  /** Extra variables; `undefined` removes one. */
  env?: EnvOverrides;
  /** Default 60 s: SDK retries on failures take several seconds. */
  timeoutMs?: number;
}

export interface ClientRun {
  client: ClientKind;
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface CallerIdentity {
  arn: string;
  account: string | undefined;
  /** The access key the SDK obtained (compare with what the endpoint served). */
  accessKeyId: string | undefined;
  /**
   * How the SDK says it got the credentials: boto3/aws CLI provider name ("container-role"),
   * JS v3 credential feature ("CREDENTIALS_HTTP").
   */
  method: string | undefined;
  run: ClientRun;
}

export class ClientError extends Error {
  constructor(readonly run: ClientRun) {
    super(`${run.client} exited ${run.code} after ${Math.round(run.durationMs)} ms\nstdout: ${run.stdout.slice(-2000)}\nstderr: ${run.stderr.slice(-3000)}`);
    this.name = "ClientError";
  }
}

const BOTO3_SCRIPT = `
import json, boto3
s = boto3.Session()
c = s.get_credentials()
out = {"method": getattr(c, "method", None) if c is not None else None}
if c is not None:
    out["accessKeyId"] = c.get_frozen_credentials().access_key
ident = s.client("sts").get_caller_identity()
out["arn"] = ident["Arn"]
out["account"] = ident["Account"]
print(json.dumps(out))
`;

const JS_SCRIPT = join(REPO_ROOT, "test", "helpers", "js-caller-identity.mjs");

/** The scrubbed environment a client runs in. */
export function clientEnv(target: CredentialEndpoint): Record<string, string> {
  assertLoopback(target.fullUri);
  assertLoopback(target.stsEndpoint);
  const vars: EnvOverrides = {
    AWS_CONTAINER_CREDENTIALS_FULL_URI: target.fullUri,
    AWS_ENDPOINT_URL_STS: target.stsEndpoint,
    AWS_REGION: "us-east-1",
    AWS_DEFAULT_REGION: "us-east-1",
  };
  if (target.token !== undefined) vars.AWS_CONTAINER_AUTHORIZATION_TOKEN = target.token;
  if (target.tokenFile !== undefined) vars.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = target.tokenFile;
  return cleanEnv({ ...vars, ...target.env });
}

/** The command line that runs one client (each prints its caller identity as JSON or text). */
export function commandFor(client: ClientKind): string[] {
  switch (client) {
    case "boto3":
      return ["python3", "-c", BOTO3_SCRIPT];
    case "aws-cli":
      // --debug names each credential provider tried; the last one is the one that worked.
      return ["aws", "sts", "get-caller-identity", "--output", "json", "--debug"];
    case "js-sdk":
      return ["node", JS_SCRIPT];
  }
}

/** Runs one client to completion; never throws for a non-zero exit. */
export async function runClient(client: ClientKind, target: CredentialEndpoint): Promise<ClientRun> {
  const env = clientEnv(target);
  const started = performance.now();
  const proc = Bun.spawn(commandFor(client), { env, cwd: env.HOME ?? "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  trackChild(proc);
  const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const timeoutMs = target.timeoutMs ?? 60_000;
  try {
    await withTimeout(proc.exited, timeoutMs, `${client} to finish`);
  } catch (err) {
    await killChild(proc, "SIGKILL");
    throw err;
  }
  const [stdout, stderr] = await output;
  return { client, code: proc.exitCode, stdout, stderr, durationMs: performance.now() - started };
}

function parse(run: ClientRun): CallerIdentity {
  if (run.code !== 0) throw new ClientError(run);
  const text = run.stdout.trim();
  const json = run.client === "aws-cli" ? text : (text.split("\n").pop() ?? "");
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new ClientError(run);
  }
  const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  const arn = str(data.arn) ?? str(data.Arn);
  if (arn === undefined) throw new ClientError(run);
  let method = str(data.method);
  let accessKeyId = str(data.accessKeyId);
  if (run.client === "aws-cli") {
    const tried = [...run.stderr.matchAll(/Looking for credentials via: (\S+)/g)].map((m) => m[1]);
    method = tried.at(-1);
    accessKeyId = /Credential=([A-Z0-9]+)\//.exec(run.stderr)?.[1];
  }
  return { arn, account: str(data.account) ?? str(data.Account), accessKeyId, method, run };
}

/** Runs `client` and returns the caller identity it printed; throws ClientError on failure. */
export async function callerIdentity(client: ClientKind, target: CredentialEndpoint): Promise<CallerIdentity> {
  return parse(await runClient(client, target));
}

export const boto3CallerIdentity = (target: CredentialEndpoint): Promise<CallerIdentity> => callerIdentity("boto3", target);
export const awsCliCallerIdentity = (target: CredentialEndpoint): Promise<CallerIdentity> => callerIdentity("aws-cli", target);
export const jsSdkCallerIdentity = (target: CredentialEndpoint): Promise<CallerIdentity> => callerIdentity("js-sdk", target);

/** Writes `token` to a fresh file with no trailing newline (SDKs reject one) and returns its path. */
export async function writeTokenFile(token: string): Promise<string> {
  const path = join(await tempDir("credproxy-token-"), "token");
  await writeFile(path, token, { mode: 0o600 });
  return path;
}
