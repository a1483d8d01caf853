/**
 * `credproxy agent install` and `credproxy agent check` as an operator runs them: the compiled
 * binary writes the unit into a temp unit directory (checked by systemd's own
 * `systemd-analyze verify`), prints the IAM policy and the session document, and `check` runs
 * inside a network namespace this file creates, as root and as nobody.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY_PATH, credproxyBinary, REPO_ROOT, runCredproxy, tempDir } from "../helpers/binary.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { runInNamespace, spawnInNamespace } from "../helpers/tunnel-topology.ts";

const NS = `cp-agi-${process.pid}`;
const UNIT = "credproxy-agent.service";
const AGENT_FLAGS = ["--listen", "127.0.0.1:7861", "--pool", "100.64.0.0/16", "--allow-cidr", "10.0.0.0/8", "--allow-cidr", "192.168.1.0/24"];
const EXEC_START = `ExecStart=${BINARY_PATH} agent ${AGENT_FLAGS.join(" ")}`;

let namespaceOk = false;

beforeAll(() => {
  const add = Bun.spawnSync(["ip", "netns", "add", NS]);
  namespaceOk = add.exitCode === 0 && Bun.spawnSync(["ip", "-n", NS, "link", "set", "lo", "up"]).exitCode === 0;
});

afterAll(async () => {
  await cleanupAll();
  Bun.spawnSync(["ip", "netns", "del", NS]);
});

async function install(args: string[]) {
  return runCredproxy(["agent", "install", ...args]);
}

function verify(path: string): { code: number; stderr: string } {
  const r = Bun.spawnSync(["systemd-analyze", "verify", path], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stderr: r.stderr.toString().trim() };
}

describe("credproxy agent install", () => {
  test("--dry-run prints the unit with the resolved binary and the flags, then the IAM policy and the document, and writes nothing", async () => {
    const dir = await tempDir("credproxy-units-");
    const r = await install(["--dry-run", "--binary", credproxyBinary(), "--unit-dir", dir, ...AGENT_FLAGS]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(`dry run: would write ${join(dir, UNIT)}:`);
    expect(r.stdout.split("\n")).toContain(EXEC_START);
    expect(r.stdout).toContain("next: systemctl daemon-reload && systemctl enable --now credproxy-agent");
    expect(r.stdout).toContain('"ssmmessages:OpenDataChannel"');
    expect(r.stdout).toContain('"allowedPattern": "^7861$"');
    expect(r.stdout).toContain("AmazonSSMManagedInstanceCore");
    expect(r.stdout).toContain("credproxy tunnel up --agent-port 7861");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("the DNS forwarder flags reach the unit's ExecStart as given", async () => {
    const upstream = await install(["--dry-run", "--binary", credproxyBinary(), "--dns-upstream", "10.0.0.2"]);
    expect(upstream.stdout).toMatch(/^ExecStart=\S+ agent --listen 127\.0\.0\.1:7860 --dns-upstream 10\.0\.0\.2$/m);
    const off = await install(["--dry-run", "--binary", credproxyBinary(), "--no-dns-forward"]);
    expect(off.stdout).toMatch(/^ExecStart=\S+ agent --listen 127\.0\.0\.1:7860 --no-dns-forward$/m);
  });

  test("writes the unit atomically, systemd-analyze verify accepts it, a rerun is unchanged, a differing file needs --force", async () => {
    const dir = await tempDir("credproxy-units-");
    const path = join(dir, UNIT);
    const first = await install(["--binary", credproxyBinary(), "--unit-dir", dir, ...AGENT_FLAGS]);
    expect(first.code).toBe(0);
    expect(first.stdout.split("\n")[0]).toBe(`wrote ${path} (${EXEC_START})`);
    expect(readdirSync(dir)).toEqual([UNIT]);
    const unit = readFileSync(path, "utf8");
    expect(unit.split("\n")).toContain(EXEC_START);
    expect(verify(path)).toEqual({ code: 0, stderr: "" });

    const again = await install(["--binary", credproxyBinary(), "--unit-dir", dir, ...AGENT_FLAGS]);
    expect(again.stdout.split("\n")[0]).toStartWith(`unchanged: ${path}`);

    writeFileSync(path, unit.replace("Restart=on-failure", "Restart=always"));
    const refused = await install(["--binary", credproxyBinary(), "--unit-dir", dir, ...AGENT_FLAGS]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${path} exists and differs`);
    expect(refused.stderr).toContain("--force");
    expect(readFileSync(path, "utf8")).toContain("Restart=always");

    const forced = await install(["--force", "--binary", credproxyBinary(), "--unit-dir", dir, ...AGENT_FLAGS]);
    expect(forced.code).toBe(0);
    expect(forced.stdout.split("\n")[0]).toStartWith(`replaced ${path}`);
    expect(readFileSync(path, "utf8")).toBe(unit);
    expect(readdirSync(dir)).toEqual([UNIT]);
  });

  test("--print-iam and --print-document print JSON only and write nothing", async () => {
    const dir = await tempDir("credproxy-units-");
    const iam = await install(["--print-iam", "--unit-dir", dir]);
    expect(iam.code).toBe(0);
    const policy = JSON.parse(iam.stdout) as { Statement: { Action: string[] }[] };
    expect(policy.Statement.flatMap((s) => s.Action)).toEqual(
      expect.arrayContaining(["ssm:StartSession", "ssm:ResumeSession", "ssm:TerminateSession", "ssmmessages:OpenDataChannel", "ec2:DescribeInstances", "ssm:DescribeInstanceInformation"]),
    );
    const doc = await install(["--print-document", "--listen", "127.0.0.1:7999"]);
    expect(JSON.parse(doc.stdout)).toMatchObject({ sessionType: "Port", parameters: { portNumber: { allowedPattern: "^7999$", default: "7999" } } });
    expect(readdirSync(dir)).toEqual([]);
  });

  test("the IAM policy in README.md and docs/tunnel.md is the one --print-iam prints", async () => {
    const printed = JSON.parse((await install(["--print-iam"])).stdout) as { Statement: { Resource: string[] }[] };
    printed.Statement[0]!.Resource[0] = "arn:aws:ec2:*:*:instance/*"; // on an EC2 host it names the instance
    for (const file of ["README.md", "docs/tunnel.md"]) {
      const blocks = [...readFileSync(join(REPO_ROOT, file), "utf8").matchAll(/^```json\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).filter((b) => b.includes("CredproxyTunnelStart"));
      expect({ file, blocks: blocks.length }).toEqual({ file, blocks: 1 });
      expect({ file, policy: JSON.parse(blocks[0]!) }).toEqual({ file, policy: printed });
    }
  });

  test("a binary the unit's sandbox hides (under /tmp) is written with a warning that says where to copy it", async () => {
    const dir = await tempDir("credproxy-units-");
    const binary = join(dir, "credproxy");
    writeFileSync(binary, "#!/bin/sh\n", { mode: 0o755 });
    const r = await install(["--dry-run", "--binary", binary, "--unit-dir", dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("which the unit's PrivateTmp=yes hides from the service");
    expect(r.stderr).toContain("/usr/local/bin/credproxy");
  });

  test("bad input is a usage error naming the flag", async () => {
    for (const [args, text] of [
      [["--pool", "100.64.0.1/16"], "--pool \"100.64.0.1/16\": 100.64.0.1/16 has host bits set; write 100.64.0.0/16"],
      [["--allow-cidr", "fd00::/8"], "is IPv6"],
      [["--listen", "127.0.0.1:0"], "needs a fixed port"],
      [["--binary", "/nonexistent/credproxy"], "--binary /nonexistent/credproxy is not an executable file (ENOENT)"],
      [["--bogus"], 'unknown flag "--bogus"'],
      [["--dns-upstream", "resolver.invalid"], '--dns-upstream "resolver.invalid": "resolver.invalid" is not an IP address'],
    ] as const) {
      const r = await install(["--dry-run", ...args]);
      expect({ args, code: r.code, has: r.stderr.includes(text) }).toEqual({ args, code: 2, has: true });
    }
  });
});

describe.skipIf(process.getuid?.() !== 0)("credproxy agent check in a network namespace", () => {
  const check = (args: string[] = [], prefix: string[] = []) => runInNamespace(NS, [...prefix, credproxyBinary(), "agent", "check", ...args]);

  test("as root in a fresh namespace every required check passes: one line per check and exit 0", async () => {
    expect(namespaceOk).toBe(true);
    const r = await check(["--listen", "127.0.0.1:7861"]);
    const lines = r.out.split("\n");
    expect({ code: r.code, last: lines.at(-1) }).toEqual({ code: 0, last: "agent check: every required check passed" });
    expect(lines.map((l) => l.split(/\s+/).slice(0, 2).join(" ")).slice(0, 5)).toEqual(["ok privileges", "ok tun", "ok firewall", "ok ip-forward", "ok listen"]);
    expect(lines[5]).toMatch(/^(ok|FAIL|unknown)\s+ssm-agent\s.*\(advisory\)/);
  });

  test("a port already taken in the namespace fails the listen check with its hint, exit 1; --json says the same", async () => {
    const holder = spawnInNamespace(NS, [process.execPath, "-e", "Bun.listen({ hostname: '127.0.0.1', port: 7862, socket: { data() {} } }); console.log('holding')"]);
    await holder.waitForLine(/^holding$/, 10_000, "stdout");
    const r = await check(["--listen", "127.0.0.1:7862"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("FAIL     listen      cannot listen on 127.0.0.1:7862: EADDRINUSE; hint: another process listens there");
    expect(r.out.split("\n").at(-1)).toBe("agent check: 1 of 5 required checks failed (listen)");
    const json = await check(["--listen", "127.0.0.1:7862", "--json"]);
    const report = JSON.parse(json.out) as { ok: boolean; checks: { name: string; status: string }[] };
    expect(json.code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === "listen")!.status).toBe("fail");
  });

  test("agent --check is agent check: the same lines and exit code", async () => {
    const flag = await runInNamespace(NS, [credproxyBinary(), "agent", "--check", "--listen", "127.0.0.1:7863"]);
    const sub = await check(["--listen", "127.0.0.1:7863"]);
    expect(flag.code).toBe(sub.code);
    expect(flag.out.split("\n").slice(0, 5)).toEqual(sub.out.split("\n").slice(0, 5));
    expect(flag.out.split("\n").at(-1)).toBe("agent check: every required check passed");
  });

  test("as nobody without capabilities the privilege and ip_forward checks fail with hints, exit 1", async () => {
    const r = await check([], ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("FAIL     privileges  uid 65534 without CAP_NET_ADMIN; hint: run the agent as root");
    expect(r.out).toMatch(/FAIL {5}ip-forward  cannot open \/proc\/sys\/net\/ipv4\/ip_forward for writing: EACCES; hint: /);
    expect(r.out.split("\n").at(-1)).toStartWith("agent check: ");
    expect(r.out.split("\n").at(-1)).toContain("privileges");
  });
});
