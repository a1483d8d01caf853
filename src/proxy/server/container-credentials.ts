/**
 * GET /_credproxy/aws/credentials on the proxy port: the role of a run's aws: credential that
 * sets `container_endpoint: true`, in the ECS container-credentials format serve answers with
 * (AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn, AccountId), for tools that cannot
 * be pointed at placeholder keys. The run is the one whose token is the `Authorization` value
 * (AWS_CONTAINER_AUTHORIZATION_TOKEN; SHA-256 digests compared in constant time against every
 * run); the credentials come from the same refreshing cache that re-signs its requests. Refusals
 * say how to fix them and nothing about the role; the log and metrics never see a token or key.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { toEcsResponse } from "../../credentials/ecs-response.ts";
import type { RoleCredentials } from "../../credentials/types.ts";
import type { AwsCredentialSpec, ProxyConfig, Tenant } from "../config/proxy-config.ts";
import { selectByExactToken } from "../proxy-auth.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";

export const AWS_CREDENTIALS_PATH = "/_credproxy/aws/credentials";

export interface ContainerCredentialsDeps {
  readonly config: ProxyConfig;
  readonly runs: readonly Tenant[];
  credentials(tenant: Tenant, spec: AwsCredentialSpec): Promise<RoleCredentials>;
}

export interface ContainerAnswer {
  readonly status: number;
  /** The JSON body: ECS credentials, or {Code, Message} (the JS SDK shows Message). */
  readonly body: Readonly<Record<string, string>>;
  /** What was served, for the log and metrics (names from the config only). */
  readonly tenant?: string | undefined;
  readonly credential?: string | undefined;
  readonly served?: RoleCredentials | undefined;
}

/** The answer to one request, `authorization` being its Authorization headers as sent. */
export async function containerCredentials(authorization: readonly string[], deps: ContainerCredentialsDeps): Promise<ContainerAnswer> {
  const holders = tokenHolders(deps.config, deps.runs);
  if (holders.length === 0 && deps.config.runsDir === undefined) return refusal(403, "NoTokenConfigured", NO_TOKEN_CONFIGURED);
  if (authorization.length > 1) return refusal(400, "AmbiguousAuthorization", "credproxy refused the request: it carries more than one Authorization header; send the run's token once.");
  if (authorization.length === 0 || authorization[0] === "") return refusal(401, "TokenRequired", TOKEN_REQUIRED);
  const tenant = selectByExactToken(holders, authorization[0])?.tenant;
  if (!tenant) return refusal(403, "InvalidToken", INVALID_TOKEN);
  const where = tenant.name === "default" ? "proxy.yaml" : `run ${tenant.name} (${tenant.source})`;
  const spec = tenant.awsCredentials.find((c) => c.containerEndpoint);
  if (!spec) {
    const names = tenant.awsCredentials.map((c) => c.name);
    const fix =
      names.length === 0
        ? `${where} has no aws: credential. Add one to its credentials with aws: {role_arn: ..., container_endpoint: true} (docs/proxy.md, "AWS without keys").`
        : `${where} has aws credentials (${names.join(", ")}) but none sets container_endpoint: true. Set it on the one this run should get.`;
    return { ...refusal(404, "NoContainerCredential", `credproxy has no container credentials for this run: ${fix}`), tenant: tenant.name };
  }
  try {
    const creds = await deps.credentials(tenant, spec);
    return { status: 200, body: { ...toEcsResponse(creds) }, tenant: tenant.name, credential: spec.name, served: creds };
  } catch {
    return { ...refusal(503, "CredentialsUnavailable", "credproxy could not get the role's credentials; the proxy's log says why. Try again shortly."), tenant: tenant.name, credential: spec.name };
  }
}

/** The node:http side: answers, records the key id served (so requests signed with it pass), logs and counts. */
export async function serveContainerCredentials(runtime: ProxyRuntime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") return send(res, { status: 405, body: { Code: "MethodNotAllowed", Message: `${AWS_CREDENTIALS_PATH} answers GET only.` } }, method, { allow: "GET, HEAD" });
  const { config, runs } = runtime.state;
  const answer = await containerCredentials(headerValues(req.rawHeaders, "authorization"), { config, runs, credentials: (tenant, spec) => runtime.aws.credentials(tenant, spec) });
  const remote = req.socket.remoteAddress;
  if (answer.served && answer.tenant !== undefined) {
    runtime.aws.served.add(answer.tenant, answer.served.accessKeyId, answer.served.expiration);
    runtime.metrics.request("allowed", [answer.credential!]);
    // debug: SDKs fetch again on every call once less than 15 minutes are left (botocore)
    if (runtime.logger.enabled("debug")) runtime.logger.debug("container credentials served", { run: answer.tenant, credential: answer.credential, remote });
  } else {
    runtime.metrics.request("refused", answer.credential === undefined ? [] : [answer.credential]);
    runtime.logger.info("container credentials refused", { run: answer.tenant, status: answer.status, reason: answer.body.Code, remote });
  }
  send(res, answer, method);
}

function tokenHolders(config: ProxyConfig, runs: readonly Tenant[]): { token: string | undefined; tenant: Tenant }[] {
  if (config.runsDir !== undefined) return runs.map((tenant) => ({ token: tenant.token, tenant }));
  return config.token === undefined ? [] : [{ token: config.token, tenant: config.defaultTenant }];
}

function refusal(status: number, code: string, message: string): ContainerAnswer {
  return { status, body: { Code: code, Message: message } };
}

function send(res: ServerResponse, answer: Pick<ContainerAnswer, "status" | "body">, method: string, extra: Record<string, string> = {}): void {
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store", ...extra });
  res.end(method === "HEAD" ? undefined : body);
}

/** Every value of a header, from the raw list: node:http's req.headers keeps only the first Authorization. */
function headerValues(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

const TOKEN_REQUIRED =
  "credproxy's container credential endpoint needs the run's token in the Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN (and AWS_CONTAINER_CREDENTIALS_FULL_URI) from `credproxy proxy env --aws-endpoint`.";
const INVALID_TOKEN = "credproxy refused the request: its Authorization matches no run's token. Take AWS_CONTAINER_AUTHORIZATION_TOKEN from `credproxy proxy env --aws-endpoint` (with --run NAME).";
const NO_TOKEN_CONFIGURED =
  "credproxy's container credential endpoint is off: this proxy has no token (top-level token: or runs_dir), so it could not tell who asks, and anyone who reaches its port would get the role's keys. Set token: in proxy.yaml.";
