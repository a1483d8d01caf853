/**
 * The proxy's command line in the compiled binary: start-up refusals that leave nothing
 * running, `proxy ca`, name-constrained CAs, metrics that promtool accepts and that carry
 * no host or secret, and validate --proxy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCredproxy } from "../helpers/binary.ts";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { startHttpsOrigin, type EchoOrigin } from "../helpers/https-origin.ts";
import { makeTestPki, type TestPki } from "../helpers/test-ca.ts";
import { waitFor } from "../helpers/wait.ts";
import { rawConnect, startProxy } from "./proxy-fixture.ts";

const SECRET = "cli-secret-9Qm4Xr7Lz2Wk8Vn5B";
let pki: TestPki;
let origin: EchoOrigin;

beforeAll(async () => {
  pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  origin = await startHttpsOrigin({ pki });
});
afterAll(cleanupAll);

async function configFile(yaml: string): Promise<{ dir: string; path: string }> {
  const dir = await tempDir("proxy-cli-");
  const path = join(dir, "proxy.yaml");
  writeFileSync(path, yaml);
  return { dir, path };
}

describe("credproxy proxy on the command line", () => {
  test("listening beyond loopback without a token is refused at start, naming the flag", async () => {
    const { dir, path } = await configFile("allow: [a.invalid]\n");
    const r = await runCredproxy(["proxy", "--config", path, "--listen", "0.0.0.0:0"], { env: { XDG_CONFIG_HOME: dir } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--listen 0.0.0.0");
    expect(r.stderr).toContain("set token (or runs_dir)");
    expect(r.stdout).toBe("");
  });

  test("a bad --listen is a usage error", async () => {
    const r = await runCredproxy(["proxy", "--listen", "localhost"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid --listen "localhost" (HOST:PORT');
  });

  test("a missing --config file is an error naming it", async () => {
    const r = await runCredproxy(["proxy", "--config", "/nonexistent/proxy.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Cannot read proxy config /nonexistent/proxy.yaml as it does not exist");
  });

  test("proxy ca prints the CA PEM on stdout and how to trust it on stderr", async () => {
    const { dir, path } = await configFile("allow: [a.invalid]\n");
    const r = await runCredproxy(["proxy", "ca", "--config", path], { env: { XDG_CONFIG_HOME: dir } });
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("-----BEGIN CERTIFICATE-----");
    expect(r.stderr).toContain("update-ca-certificates");
    expect(r.stderr).toContain("security add-trusted-cert");
    const again = await runCredproxy(["proxy", "ca", "--config", path], { env: { XDG_CONFIG_HOME: dir } });
    expect(again.stdout).toBe(r.stdout); // generated once, then loaded
  });

  test("validate --proxy reports every problem with its line", async () => {
    const { path } = await configFile("allow: ['*.*']\ngrants: [githib]\n");
    const r = await runCredproxy(["validate", "--proxy", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${path}:1:9`);
    expect(r.stderr).toContain(`${path}:2:10`);
    expect(r.stderr).toContain('did you mean "github"');
  });

  test("validate --proxy checks aws: credentials and says what each re-signs, and proxy env --aws needs one", async () => {
    const good = await configFile('credentials:\n  - name: role\n    host: "*.amazonaws.com"\n    aws: {role_arn: "arn:aws:iam::123456789012:role/sandbox", source: {iam_profile: {profile_name: dev}}}\n');
    const ok = await runCredproxy(["validate", "--proxy", good.path]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("aws: role (arn:aws:iam::123456789012:role/sandbox re-signs SigV4 to *.amazonaws.com)");
    const bad = await configFile('credentials:\n  - name: role\n    host: "*.amazonaws.com"\n    aws:\n      role_arn: "arn:aws:iam::1:role/x"\n      source: env\n');
    const r = await runCredproxy(["validate", "--proxy", bad.path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad.path}:5:17: credentials[0].aws.role_arn`);
    expect(r.stderr).toContain(`${bad.path}:6:15: credentials[0].aws.source: must be default, {iam_profile: {profile_name: NAME}}`);
    const none = await configFile("allow: [api.example.invalid]\n");
    const env = await runCredproxy(["proxy", "env", "--config", none.path, "--aws"], { env: { XDG_CONFIG_HOME: none.dir } });
    expect(env.code).not.toBe(0);
    expect(env.stderr).toContain("has no aws: credential");
  });

  test("validate --proxy says which credentials swap a placeholder, and reports a bad one with its line and key path", async () => {
    const good = await configFile('credentials:\n  - {name: openai, host: api.openai.com, value: "sk-x", placeholder: {prefix: sk-}, env: OPENAI_API_KEY, require_placeholder: true}\n');
    const ok = await runCredproxy(["validate", "--proxy", good.path]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("openai (placeholder from OPENAI_API_KEY swapped at api.openai.com; Authorization without it refused)");
    const bad = await configFile('credentials:\n  - name: openai\n    host: api.openai.com\n    value: "sk-x"\n    placeholder: "cpx_short"\n    env: HTTPS_PROXY\n');
    const r = await runCredproxy(["validate", "--proxy", bad.path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad.path}:5:18: credentials[0].placeholder: is 9 characters`);
    expect(r.stderr).toContain(`${bad.path}:6:10: credentials[0].env: HTTPS_PROXY is set by credproxy proxy env itself`);
  });
});

describe("tls.name_constraints: auto, end to end", () => {
  test("the generated CA signs for the credentialed host, which curl accepts", async () => {
    const proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}, name_constraints: auto}
allow: ["localhost:${origin.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - {name: api, host: "localhost:${origin.port}", value: "Bearer ${SECRET}"}
`);
    const r = await curl(["--proxy", proxy.proxyUrl(), "--cacert", proxy.bundle, `https://localhost:${origin.port}/constrained`]);
    expect(JSON.parse(r.stdout).headers.authorization).toBe(`Bearer ${SECRET}`);
    const text = await Bun.$`openssl x509 -in ${join(proxy.dir, "credproxy", "proxy-ca", "ca.pem")} -noout -ext nameConstraints`.text();
    expect(text).toContain("DNS:localhost");
  });

  test("a credential added for a host the CA cannot sign for is refused at start, with what to do", async () => {
    const first = await startProxy(`tls: {name_constraints: auto}\ncredentials:\n  - {name: a, host: one.invalid, value: x}\n`);
    const reloadFailed = first.proc.waitForLog((r) => String(r.msg).startsWith("reload failed"));
    writeFileSync(first.configPath, `tls: {name_constraints: auto}\ncredentials:\n  - {name: a, host: one.invalid, value: x}\n  - {name: b, host: two.invalid, value: y}\n`);
    const second = await runCredproxy(["proxy", "--config", first.configPath, "--listen", "127.0.0.1:0"], { env: { XDG_CONFIG_HOME: first.dir } });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("is name-constrained and cannot sign for two.invalid");
    expect(second.stderr).toContain("set tls.name_constraints: off");
    expect(String((await reloadFailed).error)).toContain("cannot sign for two.invalid"); // the running proxy keeps its config
  });
});

describe("proxy metrics", () => {
  test("/_credproxy/metrics counts decisions by credential name, passes promtool, and names no host or secret", async () => {
    const proxy = await startProxy(`
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${origin.port}"]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - {name: api, host: "localhost:${origin.port}", value: "Bearer ${SECRET}"}
`);
    await curl(["--proxy", proxy.proxyUrl(), "--cacert", proxy.bundle, `https://localhost:${origin.port}/m`]);
    await rawConnect(proxy.port, "random-name-1234.invalid:443");
    const text = await (await fetch(`http://127.0.0.1:${proxy.port}/_credproxy/metrics`)).text();
    expect(text).toMatch(/credproxy_proxy_requests_total\{decision="allowed",credential="api"\} [1-9]/);
    expect(text).toMatch(/credproxy_proxy_requests_total\{decision="denied",credential="none"\} [1-9]/);
    expect(text).toMatch(/credproxy_proxy_leaf_cache_size [1-9]/);
    expect(text).not.toContain("random-name");
    expect(text).not.toContain("localhost");
    expect(text).not.toContain(SECRET);
    const proc = Bun.spawn(["promtool", "check", "metrics"], { stdin: new Blob([text]), stderr: "pipe", stdout: "pipe" });
    expect(await new Response(proc.stderr).text()).toBe("");
    expect(await proc.exited).toBe(0);
  });
});

describe("proxy limits", () => {
  test("one connection past limits.max_connections is answered 503 at once", async () => {
    const proxy = await startProxy(`limits: {max_connections: 1}\nallow: [a.invalid]\n`);
    const { connect } = await import("node:net");
    const held = connect({ host: "127.0.0.1", port: proxy.port });
    await new Promise((resolve) => held.once("connect", resolve));
    // The held connection counts once the proxy has accepted it: ask until it has.
    const answer = await waitFor(async () => {
      const text = await rawConnect(proxy.port, "a.invalid:443");
      return text.startsWith("HTTP/1.1 503") ? text : undefined;
    }, { timeoutMs: 3000, what: "a 503" });
    expect(answer).toContain("limits.max_connections");
    held.destroy();
  });
});
