/**
 * What `credproxy proxy env` and `credproxy proxy ca` print, from the config a proxy runs
 * with: the proxy URL (with the run's or the proxy's token), NO_PROXY, and the trust bundle
 * (written beside the CA, generating the CA when it does not exist yet, exactly as the proxy
 * itself would), or the CA certificate and how to trust it. With --aws, also the placeholder
 * AWS keys of the run's aws: credential, the only AWS keys a sandbox should hold; with
 * --aws-endpoint, the container credential endpoint's URL and the run's token instead. Every
 * credential with `env:` adds that variable holding its placeholder.
 */
import { join } from "node:path";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { loadProxyConfig, type ProxyConfigLocation } from "./config/load-proxy-config.ts";
import type { ProxyConfig, Tenant } from "./config/proxy-config.ts";
import { awsPlaceholders } from "./aws/aws-placeholders.ts";
import { AWS_CREDENTIALS_PATH } from "./server/container-credentials.ts";
import { loadRuns } from "./load-runs.ts";
import { sandboxEnv, shellLines } from "./sandbox-env.ts";
import type { ProxyCa } from "./tls/proxy-ca.ts";
import { writeTrustBundle } from "./tls/trust-bundle.ts";
import { loadCaFor } from "./ca-constraints.ts";

/** Hosts a sandbox reaches without the proxy: its own loopback. */
export const SANDBOX_NO_PROXY = ["localhost", "127.0.0.1", "::1"];

export interface SandboxEnvRequest {
  readonly location: ProxyConfigLocation;
  readonly run: string | undefined;
  readonly address: { readonly host: string; readonly port: number } | undefined;
  readonly bundlePath: string | undefined;
  /** Print the placeholder keys of an aws: credential: true for the only one, or its name. */
  readonly aws?: boolean | string | undefined;
  /** Print the container credential endpoint's URL and the token instead of keys. */
  readonly awsEndpoint?: boolean | undefined;
  readonly usage: (message: string) => Error;
}

export async function sandboxEnvFor(request: SandboxEnvRequest): Promise<string> {
  const config = loadProxyConfig(request.location);
  const tenant = tenantFor(config, request);
  const token = tenant.token ?? config.token;
  const address = request.address ?? config.listen;
  if (address.port === 0) throw request.usage("listen.port is 0 (a random port): give the port the proxy printed with --proxy-address HOST:PORT");
  const host = address.host === "0.0.0.0" || address.host === "::" ? "127.0.0.1" : address.host;
  const ca = await loadCaFor(config);
  const bundle = writeTrustBundle(config.tls.trustBundle, ca.certPem);
  const pairs = sandboxEnv({
    proxyAuthority: `${host.includes(":") ? `[${host}]` : host}:${address.port}`,
    token,
    user: request.run,
    bundlePath: request.bundlePath ?? bundle,
    noProxy: SANDBOX_NO_PROXY,
  });
  for (const c of tenant.credentials) if (c.env !== undefined && c.placeholder !== undefined) pairs.push([c.env, c.placeholder]);
  if (request.aws !== undefined && request.aws !== false) pairs.push(...awsPairs(tenant, request.aws, request.usage));
  if (!request.awsEndpoint) return shellLines(pairs);
  if (request.aws !== undefined && request.aws !== false) throw request.usage("--aws and --aws-endpoint exclude each other: SDKs take AWS_ACCESS_KEY_ID before the container endpoint, so pick one");
  const endpoint = containerEndpointPairs(tenant, token, host, address.port, request.usage);
  return shellLines([...pairs, ...endpoint.pairs]) + endpoint.note;
}

/**
 * AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN: the SDK default
 * chain then fetches the role of the run's container_endpoint credential from the proxy. SDKs
 * fetch over plain http:// only from loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23
 * (aws-credential-protocols.md §1), so any other address gets a note saying so.
 */
function containerEndpointPairs(tenant: Tenant, token: string | undefined, host: string, port: number, usage: (message: string) => Error): { pairs: [string, string][]; note: string } {
  const where = tenant.name === "default" ? "proxy.yaml" : `run ${tenant.name}`;
  if (token === undefined) throw usage("--aws-endpoint: this proxy has no token, so its container credential endpoint is off; set token: in proxy.yaml (or use runs_dir)");
  if (!tenant.awsCredentials.some((c) => c.containerEndpoint)) {
    throw usage(`--aws-endpoint: no aws: credential of ${where} sets container_endpoint: true; set it on the one the sandbox should get (see docs/proxy.md, "Container credentials")`);
  }
  const authority = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const pairs: [string, string][] = [
    ["AWS_CONTAINER_CREDENTIALS_FULL_URI", `http://${authority}${AWS_CREDENTIALS_PATH}`],
    ["AWS_CONTAINER_AUTHORIZATION_TOKEN", token],
  ];
  const note = SDK_HTTP_HOSTS.test(host)
    ? ""
    : `# note: AWS SDKs fetch container credentials over http:// only from 127.0.0.1/8, ::1, localhost, 169.254.170.2, 169.254.170.23 or fd00:ec2::23; ${host} is none of them, so reach the proxy at one of those from the sandbox (docs/proxy.md, "Container credentials")\n`;
  return { pairs, note };
}

const SDK_HTTP_HOSTS = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|169\.254\.170\.2|169\.254\.170\.23|fd00:ec2::23)$/i;

/** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN: the placeholders the proxy re-signs. */
function awsPairs(tenant: Tenant, which: true | string, usage: (message: string) => Error): [string, string][] {
  const names = tenant.awsCredentials.map((c) => c.name);
  const where = tenant.name === "default" ? "proxy.yaml" : `run ${tenant.name}`;
  if (names.length === 0) throw usage(`--aws: ${where} has no aws: credential; add one to credentials (see docs/proxy.md, "AWS without keys")`);
  const name = which === true ? names[0]! : which;
  if (which === true && names.length > 1) throw usage(`--aws: ${where} has several aws: credentials (${names.join(", ")}); name one with --aws-credential NAME`);
  if (!names.includes(name)) throw usage(`--aws-credential ${name}: ${where} has no aws: credential of that name; it has ${names.join(", ")}`);
  const keys = awsPlaceholders({ tenant: tenant.name, token: tenant.token, credential: name });
  return [
    ["AWS_ACCESS_KEY_ID", keys.accessKeyId],
    ["AWS_SECRET_ACCESS_KEY", keys.secretAccessKey],
    ["AWS_SESSION_TOKEN", keys.sessionToken],
  ];
}

function tenantFor(config: ProxyConfig, request: SandboxEnvRequest): Tenant {
  if (config.runsDir === undefined) {
    if (request.run !== undefined) throw request.usage(`--run ${request.run}: this proxy has no runs_dir, so it has no runs`);
    return config.defaultTenant;
  }
  if (request.run === undefined) throw request.usage("this proxy takes a run token: name the run with --run NAME (a file in runs_dir)");
  const loaded = loadRuns(config.runsDir);
  const run = loaded.runs.find((r) => r.name === request.run);
  if (run) return run;
  const problem = [...loaded.problems].find(([file]) => file.includes(`/${request.run}.`));
  throw new CredproxyError(ErrorCode.ConfigInvalid, `no run "${request.run}" in ${config.runsDir}${problem ? `: ${problem[1]}` : ""}`, {
    hint: `write ${join(config.runsDir, `${request.run}.yaml`)} with at least token:, or pick one of: ${loaded.runs.map((r) => r.name).join(", ") || "(none)"}`,
  });
}

export async function proxyCaFor(location: ProxyConfigLocation): Promise<ProxyCa> {
  return loadCaFor(loadProxyConfig(location));
}

export function trustInstructions(certPath: string): string {
  return `
To trust this CA system-wide (the PEM above is ${certPath}):
  Debian/Ubuntu:  cp ca.pem /usr/local/share/ca-certificates/credproxy.crt && update-ca-certificates
  Alpine:         apk add ca-certificates && cp ca.pem /usr/local/share/ca-certificates/credproxy.crt && update-ca-certificates
  RHEL/Fedora:    cp ca.pem /etc/pki/ca-trust/source/anchors/credproxy.pem && update-ca-trust
  macOS:          sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ca.pem
Node.js ignores the system store: set NODE_EXTRA_CA_CERTS=ca.pem (credproxy proxy env sets it).
`;
}
