/**
 * Starts the compiled binary as `credproxy proxy` on a proxy.yaml written for the test (port
 * 0, CA in the test directory), waits for its "listening on http://HOST:PORT" line, and
 * reads the sandbox environment from `credproxy proxy env`, the way a sandbox would get it.
 * Every origin is on loopback; names that must not resolve are `.invalid`.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCredproxy, spawnCredproxy, tempDir, type CredproxyProcess, type EnvOverrides } from "../helpers/binary.ts";

export interface RunningProxy {
  readonly proc: CredproxyProcess;
  readonly port: number;
  readonly dir: string;
  readonly configPath: string;
  /** http://127.0.0.1:PORT, or with userinfo when a token is given. */
  proxyUrl(token?: string): string;
  /** The trust bundle the proxy wrote (its CA + public roots). */
  readonly bundle: string;
  /** `credproxy proxy env` as NAME → value. */
  sandboxEnv(args?: string[]): Promise<Record<string, string>>;
}

export interface ProxyFixtureOptions {
  readonly env?: EnvOverrides;
  readonly args?: string[];
  /** Files to write into the test directory before start, by relative name. */
  readonly files?: Record<string, string>;
  readonly dirs?: string[];
}

/** `yaml` may use {{dir}}; the listen address is always 127.0.0.1:0 (from --listen). */
export async function startProxy(yaml: string, options: ProxyFixtureOptions = {}): Promise<RunningProxy> {
  const dir = await tempDir("credproxy-proxy-");
  for (const name of options.dirs ?? []) await mkdir(join(dir, name), { recursive: true });
  for (const [name, content] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), content.replaceAll("{{dir}}", dir));
  const configPath = join(dir, "proxy.yaml");
  await writeFile(configPath, yaml.replaceAll("{{dir}}", dir));
  // The generated CA goes to $XDG_CONFIG_HOME/credproxy/proxy-ca: the test directory.
  const childEnv = { XDG_CONFIG_HOME: dir, ...options.env };
  const proc = spawnCredproxy(["proxy", "--config", configPath, "--listen", "127.0.0.1:0", ...(options.args ?? [])], { env: childEnv, cwd: dir });
  const line = await proc.waitForLine(/^listening on http:\/\/127\.0\.0\.1:(\d+)$/, 15_000, "stdout");
  const port = Number(line[1]);
  return {
    proc,
    port,
    dir,
    configPath,
    bundle: join(dir, "credproxy", "proxy-ca", "trust-bundle.pem"),
    proxyUrl: (token) => (token === undefined ? `http://127.0.0.1:${port}` : `http://run:${encodeURIComponent(token)}@127.0.0.1:${port}`),
    async sandboxEnv(args = []) {
      const r = await runCredproxy(["proxy", "env", "--config", configPath, "--proxy-address", `127.0.0.1:${port}`, ...args], { env: childEnv, cwd: dir });
      if (r.code !== 0) throw new Error(`proxy env failed (${r.code}): ${r.stderr}`);
      return parseExports(r.stdout);
    },
  };
}

/** `export NAME='value'` lines (shellQuote's output) back to pairs. */
export function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^'|'$/g, "").replaceAll(`'\\''`, "'");
  }
  return out;
}

/**
 * Sends raw bytes to the proxy and returns everything it answers until it closes (or
 * `until` appears): curl hides the body of a refused CONNECT, and hostile inputs are
 * bytes no client library would send.
 */
export async function rawExchange(port: number, bytes: string, options: { until?: (text: string) => boolean; timeoutMs?: number } = {}): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(bytes, "latin1"));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of answer in time; got ${JSON.stringify(text.slice(0, 300))}`));
    }, options.timeoutMs ?? 5000);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (options.until?.(text)) done();
    });
    socket.on("close", done);
    socket.on("error", done);
  });
}

/** A CONNECT as a client sends it, and the proxy's whole answer. */
export function rawConnect(port: number, authority: string, headers: string[] = []): Promise<string> {
  // A 200 opens the tunnel and nothing more comes; any other answer ends with the connection.
  const opened = (text: string) => text.startsWith("HTTP/1.1 200") && text.includes("\r\n\r\n");
  return rawExchange(port, [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`, ...headers, "", ""].join("\r\n"), { until: opened });
}
