/**
 * Tenants and reloads of the compiled proxy: runs in runs_dir (each its own token, policy and
 * credentials, added, edited and removed while it runs), the single-tenant token, edits and
 * SIGHUP that reload atomically (a bad edit keeps the last good config), a ${fromFile:} token
 * rotated on disk, and a command credential cached until its expiry.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAll, tempDir } from "../helpers/cleanup.ts";
import { curl } from "../helpers/curl.ts";
import { startHttpsOrigin, type EchoOrigin } from "../helpers/https-origin.ts";
import { makeTestPki, type TestPki } from "../helpers/test-ca.ts";
import { waitFor } from "../helpers/wait.ts";
import { rawConnect, startProxy, type RunningProxy } from "./proxy-fixture.ts";

const T1 = "run-one-token-9Qm4Xr7Lz2Wk8Vn5B";
const T2 = "run-two-token-3Hc8Jd2Kf6Lm9Np4Q";

let pki: TestPki;
let origin: EchoOrigin;
let second: EchoOrigin;

beforeAll(async () => {
  pki = await makeTestPki(await tempDir(), { names: ["localhost"], ips: ["127.0.0.1"] });
  origin = await startHttpsOrigin({ pki, name: "api" });
  second = await startHttpsOrigin({ pki, name: "second" });
});
afterAll(cleanupAll);

function runFile(token: string, secret: string, allow: string[]): string {
  return `token: ${token}
allow: ${JSON.stringify(allow)}
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: api
    host: localhost:${origin.port}
    value: "Bearer ${secret}"
`;
}

/** Waits for the next "reloaded" (or "reload failed") record after those already seen. */
async function nextLog(proxy: RunningProxy, msg: string): Promise<Record<string, unknown>> {
  const seen = proxy.proc.logRecords().filter((r) => r.msg === msg).length;
  return waitFor(() => proxy.proc.logRecords().filter((r) => r.msg === msg)[seen], { timeoutMs: 10_000, what: `log "${msg}"` });
}

async function asRun(proxy: RunningProxy, token: string | undefined, url: string, extra: string[] = []) {
  return curl(["--proxy", proxy.proxyUrl(token), "--cacert", proxy.bundle, ...extra, url]);
}

describe("runs in runs_dir", () => {
  let proxy: RunningProxy;
  let runs: string;
  beforeAll(async () => {
    proxy = await startProxy(`runs_dir: ./runs\ntls: {upstream_ca_bundle: ${pki.caFile}}\n`, {
      dirs: ["runs"],
      files: { "runs/ci-1.yaml": runFile(T1, "secret-of-run-one", [`localhost:${origin.port}`, `localhost:${second.port}`]) },
    });
    runs = join(proxy.dir, "runs");
  });

  test("a run's token selects its credentials", async () => {
    const r = await asRun(proxy, T1, `https://localhost:${origin.port}/a`);
    expect(JSON.parse(r.stdout).headers.authorization).toBe("Bearer secret-of-run-one");
  });

  test("no token, or a wrong one, is a 407 Basic challenge, so curl and git retry with the URL's userinfo", async () => {
    const none = await rawConnect(proxy.port, `localhost:${origin.port}`);
    expect(none).toStartWith("HTTP/1.1 407");
    expect(none).toContain('Proxy-Authenticate: Basic realm="credproxy"');
    expect(none).toContain("X-Credproxy-Deny-Reason: proxy-token-required");
    const wrong = await rawConnect(proxy.port, `localhost:${origin.port}`, [`Proxy-Authorization: Basic ${Buffer.from("run:not-a-token").toString("base64")}`]);
    expect(wrong).toContain("X-Credproxy-Deny-Reason: bad-proxy-token");
    const bearer = await rawConnect(proxy.port, `localhost:${origin.port}`, [`Proxy-Authorization: Bearer ${T1}`]);
    expect(bearer).toStartWith("HTTP/1.1 200");
  });

  test("credproxy proxy env --run prints the run's proxy URL with its token", async () => {
    const env = await proxy.sandboxEnv(["--run", "ci-1"]);
    expect(env.HTTPS_PROXY).toBe(`http://ci-1:${T1}@127.0.0.1:${proxy.port}`);
  });

  test("a run file written while the proxy runs is a new tenant, with only its own credentials and hosts", async () => {
    const reloaded = nextLog(proxy, "reloaded");
    writeFileSync(join(runs, "ci-2.yaml"), runFile(T2, "secret-of-run-two", [`localhost:${origin.port}`]));
    expect((await reloaded).runs).toBe(2);
    const two = await asRun(proxy, T2, `https://localhost:${origin.port}/b`);
    expect(JSON.parse(two.stdout).headers.authorization).toBe("Bearer secret-of-run-two");
    const refused = await rawConnect(proxy.port, `localhost:${second.port}`, [`Proxy-Authorization: Bearer ${T2}`]);
    expect(refused).toContain("X-Credproxy-Deny-Reason: port-not-allowed");
    expect(refused).toContain("runs/ci-2.yaml");
    const one = await rawConnect(proxy.port, `localhost:${second.port}`, [`Proxy-Authorization: Bearer ${T1}`]);
    expect(one).toStartWith("HTTP/1.1 200");
  });

  test("an edited run file takes effect, and a removed one's token stops working", async () => {
    let reloaded = nextLog(proxy, "reloaded");
    writeFileSync(join(runs, "ci-1.yaml"), runFile(T1, "rotated-secret-of-run-one", [`localhost:${origin.port}`]));
    await reloaded;
    const r = await asRun(proxy, T1, `https://localhost:${origin.port}/c`);
    expect(JSON.parse(r.stdout).headers.authorization).toBe("Bearer rotated-secret-of-run-one");
    reloaded = nextLog(proxy, "reloaded");
    rmSync(join(runs, "ci-2.yaml"));
    expect((await reloaded).runs).toBe(1);
    expect(await rawConnect(proxy.port, `localhost:${origin.port}`, [`Proxy-Authorization: Bearer ${T2}`])).toContain("bad-proxy-token");
  });

  test("a broken run file is left out and reported; the other runs keep working", async () => {
    const left = waitFor(() => proxy.proc.logRecords().find((r) => r.msg === "run file left out" && String(r.file).endsWith("broken.yaml") && String(r.error).includes("as YAML")), {
      timeoutMs: 10_000,
      what: "broken run reported",
    });
    writeFileSync(join(runs, "broken.yaml"), "token: [unclosed\n");
    expect(String((await left).error)).toMatch(/broken\.yaml:\d+:\d+ as YAML/);
    const r = await asRun(proxy, T1, `https://localhost:${origin.port}/d`);
    expect(JSON.parse(r.stdout).headers.authorization).toBe("Bearer rotated-secret-of-run-one");
  });

  test("no run token appears in the proxy's log", () => {
    const all = proxy.proc.stderrLines.join("\n");
    expect(all).not.toContain(T1);
    expect(all).not.toContain(T2);
  });
});

describe("a single-tenant proxy: token, reloads, rotated files, command credentials", () => {
  const TOKEN = "single-token-6Vn5B9Qm4Xr7Lz2Wk";
  let proxy: RunningProxy;
  let yaml: (extraAllow: string) => string;
  beforeAll(async () => {
    yaml = (extraAllow) => `token: ${TOKEN}
tls: {upstream_ca_bundle: ${pki.caFile}}
allow: ["localhost:${origin.port}", "localhost:${second.port}"${extraAllow}]
allow_addresses: ["127.0.0.1/32"]
credentials:
  - name: api
    host: localhost:${origin.port}
    value: "Bearer \${fromFile:./api-token}"
  - name: minted
    host: localhost:${second.port}
    header: X-Minted
    command: ["./mint.sh"]
`;
    proxy = await startProxy(yaml(""), {
      files: {
        "api-token": "first-file-token\n",
        "mint.sh": `#!/bin/sh\nn=$(cat {{dir}}/mint-count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{dir}}/mint-count\nprintf '{"Value": "minted-%s", "Expiration": "2099-01-01T00:00:00Z"}' $n\n`,
      },
    });
    chmodSync(join(proxy.dir, "mint.sh"), 0o755); // run only when a request needs it
  });

  test("the token is required and taken from the proxy URL", async () => {
    expect(await rawConnect(proxy.port, `localhost:${origin.port}`)).toContain("proxy-token-required");
    const r = await asRun(proxy, TOKEN, `https://localhost:${origin.port}/t`);
    expect(JSON.parse(r.stdout).headers.authorization).toBe("Bearer first-file-token");
  });

  test("a token rotated in its ${fromFile:} file is sent from the next request on, without a reload", async () => {
    writeFileSync(join(proxy.dir, "api-token"), "second-file-token\n");
    await waitFor(
      async () => JSON.parse((await asRun(proxy, TOKEN, `https://localhost:${origin.port}/rotated`)).stdout).headers.authorization === "Bearer second-file-token",
      { timeoutMs: 5000, intervalMs: 200, what: "the rotated token" },
    );
  });

  test("a command credential runs once and is cached until its Expiration; an upstream 401 runs it again", async () => {
    const first = await asRun(proxy, TOKEN, `https://localhost:${second.port}/x`);
    const again = await asRun(proxy, TOKEN, `https://localhost:${second.port}/y`);
    expect(JSON.parse(first.stdout).headers["x-minted"]).toBe("minted-1");
    expect(JSON.parse(again.stdout).headers["x-minted"]).toBe("minted-1");
    await asRun(proxy, TOKEN, `https://localhost:${second.port}/status/401`);
    const after = await asRun(proxy, TOKEN, `https://localhost:${second.port}/z`);
    expect(JSON.parse(after.stdout).headers["x-minted"]).toBe("minted-2");
    expect(readFileSync(join(proxy.dir, "mint-count"), "utf8").trim()).toBe("2");
  });

  test("a broken edit of proxy.yaml keeps the last good config and says why", async () => {
    const failed = nextLog(proxy, "reload failed; the last good config stays in use");
    writeFileSync(proxy.configPath, "allow: [unclosed\n");
    expect(String((await failed).error)).toMatch(/proxy\.yaml:\d+:\d+ as YAML/);
    const r = await asRun(proxy, TOKEN, `https://localhost:${origin.port}/still`);
    expect(JSON.parse(r.stdout).path).toBe("/still");
  });

  test("a good edit reloads: a newly allowed host is reachable", async () => {
    expect(await rawConnect(proxy.port, `127.0.0.1:${second.port}`, [`Proxy-Authorization: Bearer ${TOKEN}`])).toContain("host-not-allowed");
    const reloaded = nextLog(proxy, "reloaded");
    writeFileSync(proxy.configPath, yaml(`, "127.0.0.1:${second.port}"`));
    await reloaded;
    expect(await rawConnect(proxy.port, `127.0.0.1:${second.port}`, [`Proxy-Authorization: Bearer ${TOKEN}`])).toStartWith("HTTP/1.1 200");
  });

  test("SIGHUP reloads and the proxy keeps serving", async () => {
    const reloaded = nextLog(proxy, "reloaded");
    proxy.proc.proc.kill("SIGHUP");
    await reloaded;
    const r = await asRun(proxy, TOKEN, `https://localhost:${origin.port}/after-hup`);
    expect(JSON.parse(r.stdout).path).toBe("/after-hup");
  });
});

describe("a proxy token kept in a file", () => {
  test("rotating the file is a reload: the new token works and the old one no longer does", async () => {
    const OLD = "file-token-old-9Qm4Xr7Lz2Wk8Vn5B";
    const NEW = "file-token-new-3Hc8Jd2Kf6Lm9Np4Q";
    const proxy = await startProxy(`token: "\${fromFile:./proxy-token}"\nallow: ["localhost:${origin.port}"]\nallow_addresses: ["127.0.0.1/32"]\n`, { files: { "proxy-token": OLD } });
    expect(await rawConnect(proxy.port, `localhost:${origin.port}`, [`Proxy-Authorization: Bearer ${OLD}`])).toStartWith("HTTP/1.1 200");
    const reloaded = nextLog(proxy, "reloaded");
    writeFileSync(join(proxy.dir, "proxy-token"), NEW);
    await reloaded;
    expect(await rawConnect(proxy.port, `localhost:${origin.port}`, [`Proxy-Authorization: Bearer ${NEW}`])).toStartWith("HTTP/1.1 200");
    expect(await rawConnect(proxy.port, `localhost:${origin.port}`, [`Proxy-Authorization: Bearer ${OLD}`])).toContain("bad-proxy-token");
  });
});
