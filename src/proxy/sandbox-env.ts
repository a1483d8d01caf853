/**
 * The environment a sandbox needs to use the proxy, as `credproxy proxy env` prints it: the
 * proxy URL (run token in the userinfo) in every spelling tools read, and every trust
 * variable pointing at one bundle file.
 *
 * The bundle is our CA *plus* the public roots, because several of these variables replace a
 * tool's trust store rather than add to it (REQUESTS_CA_BUNDLE, SSL_CERT_FILE, CURL_CA_BUNDLE,
 * GIT_SSL_CAINFO, AWS_CA_BUNDLE, PIP_CERT): a CA-only file would break every public host the
 * proxy tunnels without interception.
 */

export interface SandboxEnvOptions {
  /** The address the sandbox reaches the proxy at, e.g. 127.0.0.1:3128 or host.docker.internal:3128. */
  readonly proxyAuthority: string;
  /** The run token, or the single-tenant token; undefined when the proxy needs none. */
  readonly token: string | undefined;
  /** The user name put before the token (only the token is checked). */
  readonly user?: string | undefined;
  /** Path of the trust bundle as the sandbox sees it. */
  readonly bundlePath: string;
  readonly noProxy: readonly string[];
}

/** Every variable that names a CA file, with the tools that read it. */
export const TRUST_VARIABLES: readonly { readonly name: string; readonly readBy: string }[] = [
  { name: "SSL_CERT_FILE", readBy: "OpenSSL-based tools, Python ssl, Go, Ruby" },
  { name: "REQUESTS_CA_BUNDLE", readBy: "Python requests" },
  { name: "CURL_CA_BUNDLE", readBy: "curl" },
  { name: "GIT_SSL_CAINFO", readBy: "git" },
  { name: "AWS_CA_BUNDLE", readBy: "AWS CLI and SDKs" },
  { name: "PIP_CERT", readBy: "pip" },
  { name: "NODE_EXTRA_CA_CERTS", readBy: "Node.js and Bun (added to their own roots)" },
  { name: "NPM_CONFIG_CAFILE", readBy: "npm" },
  { name: "CARGO_HTTP_CAINFO", readBy: "cargo" },
  { name: "DENO_CERT", readBy: "Deno" },
];

/** NAME=value pairs, in a stable order. */
export function sandboxEnv(options: SandboxEnvOptions): [string, string][] {
  const userinfo = options.token === undefined ? "" : `${encodeURIComponent(options.user ?? "run")}:${encodeURIComponent(options.token)}@`;
  const url = `http://${userinfo}${options.proxyAuthority}`;
  const noProxy = options.noProxy.join(",");
  const pairs: [string, string][] = [];
  for (const name of ["HTTPS_PROXY", "HTTP_PROXY"]) pairs.push([name, url], [name.toLowerCase(), url]);
  pairs.push(["NO_PROXY", noProxy], ["no_proxy", noProxy]);
  for (const { name } of TRUST_VARIABLES) pairs.push([name, options.bundlePath]);
  return pairs;
}

/** `export NAME='value'` lines for sh, bash and zsh (`eval "$(credproxy proxy env)"`). */
export function shellLines(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([name, value]) => `export ${name}=${shellQuote(value)}`).join("\n") + "\n";
}

/** Single quotes, with each ' written as '\'' so no value is ever expanded by the shell. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
