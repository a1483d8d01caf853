/**
 * `credproxy tunnel up/status/list/down` as a user runs them: the compiled binary in the client
 * namespace of the tunnel topology, the fake SSM (serve-fake-ssm.ts) and the far end
 * (serve-tunnel-far-end.ts: a framing peer standing in for credproxy agent, and a fake EC2) in
 * the instance namespace. The far end answers ICMP echo requests itself, so a ping through the
 * TUN proves the path both ways without the agent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { credproxyBinary, runCredproxy, tempDir } from "../helpers/binary.ts";
import { killRecordedTunnels, processGone, tunnelClientEnv } from "../helpers/tunnel-client-env.ts";
import { cleanupAll, orphanGuard } from "../helpers/cleanup.ts";
import { DUMMY_CREDENTIALS } from "../helpers/fake-ssm/call-ssm-api.ts";
import { FakeSsmControl } from "../helpers/fake-ssm/fake-control-client.ts";
import { PEER_AGENT_ADDRESS, PEER_CLIENT_ADDRESS } from "../helpers/framing-peer.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, linkNames, routes, spawnInNamespace, VPC_CIDR, VPC_HOST } from "../helpers/tunnel-topology.ts";
import { waitFor } from "../helpers/wait.ts";

const SERVE_FAKE_SSM = join(import.meta.dir, "../helpers/fake-ssm/serve-fake-ssm.ts");
const FAR_END = join(import.meta.dir, "../helpers/serve-tunnel-far-end.ts");
const INSTANCE_ID = "i-0feedfacecafe0001";
const IP = Bun.which("ip", { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }) ?? "ip";

const topology = createTunnelTopology("tcl");
let runtimeDir = "";
let env: Record<string, string> = {};
let control: FakeSsmControl;

/** Kills any tunnel process a failed test left running, then removes the namespaces. */
afterAll(async () => {
  killRecordedTunnels(runtimeDir);
  await cleanupAll();
  topology.remove();
});

/** The binary run to completion in the client namespace with exactly `env` (no host AWS settings). */
async function credproxyIn(args: readonly string[], options: { env?: Record<string, string>; prefix?: readonly string[] } = {}): Promise<{ code: number; out: string; err: string; ms: number }> {
  const started = performance.now();
  const proc = Bun.spawn(orphanGuard([IP, "netns", "exec", topology.client, ...(options.prefix ?? []), credproxyBinary(), ...args]), {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: options.env ?? env,
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out: out.trim(), err: err.trim(), ms: performance.now() - started };
}

const tunnelFiles = (): string[] => (existsSync(join(runtimeDir, "tunnels")) ? readdirSync(join(runtimeDir, "tunnels")).sort() : []);
const tunDevices = (): string[] => linkNames(topology.client).filter((n) => n.startsWith("cpx"));
const vpcRoutes = (): { dst: string; dev: string }[] => routes(topology.client).filter((r) => r.dst === VPC_CIDR);
const recordPid = (name: string): number => (JSON.parse(readFileSync(join(runtimeDir, "tunnels", `${name}.json`), "utf8")) as { pid: number }).pid;

const TEST_MS = 60_000;
const UP_ARGS = ["tunnel", "up", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID];

describe.skipIf(!topology.ok)("credproxy tunnel against the fake SSM in namespaces", () => {
  beforeAll(async () => {
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, FAR_END, "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, peer, ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    const fake = spawnInNamespace(topology.instance, [process.execPath, SERVE_FAKE_SSM, "--host", INSTANCE_ADDRESS, "--target", peer!, "--instance", INSTANCE_ID]);
    const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
    control = new FakeSsmControl(apiUrl!, topology.instance);
    runtimeDir = await tempDir("credproxy-tunnel-rt-");
    env = tunnelClientEnv({ ssm: apiUrl!, ec2: ec2! }, runtimeDir);
  });

  test("tunnel up prints the tunnel up: line and detaches; status --json shows the session; a ping crosses; list has one line; down leaves no device, route or state file", async () => {
    const up = await credproxyIn([...UP_ARGS, "--name", "work"]);
    expect({ code: up.code, err: up.err }).toEqual({ code: 0, err: "" });
    expect(up.out).toMatch(new RegExp(`^tunnel up: work via cpx\\d+ ${PEER_CLIENT_ADDRESS} -> ${PEER_AGENT_ADDRESS} mtu 1400, routes ${VPC_CIDR}, instance ${INSTANCE_ID}, session \\S+$`));
    console.log(`tunnel up (detached) took ${Math.round(up.ms)} ms`);
    const pid = recordPid("work");
    expect(processGone(pid)).toBe(false);
    expect(tunnelFiles()).toEqual(["work.json", "work.log", "work.sock"]);
    const device = tunDevices()[0]!;
    expect(vpcRoutes()).toEqual([expect.objectContaining({ dst: VPC_CIDR, dev: device })]);

    const twice = await credproxyIn([...UP_ARGS, "--name", "work"]);
    expect(twice.code).toBe(2);
    expect(twice.err).toContain(`tunnel work is already up (pid ${pid}, ${device})`);

    const session = await control.onlySession();
    const status = await credproxyIn(["tunnel", "status", "--json"]);
    expect(status.code).toBe(0);
    const [report] = JSON.parse(status.out) as Record<string, unknown>[];
    expect(report).toMatchObject({ name: "work", state: "up", stale: false, pid, instanceId: INSTANCE_ID, sessionId: session.id, interface: device, routes: [VPC_CIDR], reconnects: 0 });
    expect(status.out).not.toContain(DUMMY_CREDENTIALS.secretAccessKey);

    const pinged = Bun.spawnSync([IP, "netns", "exec", topology.client, "ping", "-c", "2", "-W", "5", VPC_HOST]);
    expect(pinged.exitCode).toBe(0);
    const after = JSON.parse((await credproxyIn(["tunnel", "status", "work", "--json"])).out) as Record<string, number>[];
    expect(after[0]!.packetsSent).toBeGreaterThanOrEqual(2);
    expect(after[0]!.packetsReceived).toBeGreaterThanOrEqual(2);

    const text = await credproxyIn(["tunnel", "status"]);
    expect(text.out).toContain(`work: up`);
    expect(text.out).toContain(`session ${session.id}`);
    const list = await credproxyIn(["tunnel", "list"]);
    expect(list.out).toBe(`work  up  ${device}  ${INSTANCE_ID}  ${VPC_CIDR}  pid ${pid}`);

    const down = await credproxyIn(["tunnel", "down"]);
    expect({ code: down.code, out: down.out, err: down.err }).toEqual({ code: 0, out: "tunnel work: down", err: "" });
    expect(processGone(pid)).toBe(true);
    expect(tunDevices()).toEqual([]);
    expect(vpcRoutes()).toEqual([]);
    expect(tunnelFiles()).toEqual([]);
    await waitFor(async () => (await control.onlySession()).state !== "live", { timeoutMs: 5000, what: "the session terminated at the fake" });
  }, TEST_MS);

  test("tunnel up --foreground prints the line and stays; SIGTERM takes the tunnel down cleanly", async () => {
    const fg = spawnInNamespace(topology.client, [credproxyBinary(), ...UP_ARGS, "--foreground"], { env });
    const [line] = await fg.waitForLine(/^tunnel up: .*$/, 20_000, "stdout");
    expect(line).toContain(`instance ${INSTANCE_ID}`);
    expect(tunnelFiles()).toEqual([`${INSTANCE_ID}.json`, `${INSTANCE_ID}.sock`]);
    expect(await fg.kill("SIGTERM", 15_000)).toEqual({ code: 0, signal: null });
    expect(tunDevices()).toEqual([]);
    expect(vpcRoutes()).toEqual([]);
    expect(tunnelFiles()).toEqual([]);
  }, TEST_MS);

  test("after a SIGKILL of the tunnel process, status calls it stale and down --force leaves nothing behind", async () => {
    const up = await credproxyIn([...UP_ARGS, "--name", "crash"]);
    expect(up.code).toBe(0);
    const pid = recordPid("crash");
    process.kill(pid, "SIGKILL");
    await waitFor(() => processGone(pid), { timeoutMs: 5000, what: "the tunnel process to die" });

    const status = JSON.parse((await credproxyIn(["tunnel", "status", "--json"])).out) as Record<string, unknown>[];
    expect(status).toEqual([expect.objectContaining({ name: "crash", state: "down", stale: true, alive: false })]);
    const plain = await credproxyIn(["tunnel", "down", "crash"]);
    expect(plain.code).toBe(1);
    expect(plain.err).toContain("tunnel down --force crash");
    const again = await credproxyIn([...UP_ARGS, "--name", "crash"]);
    expect(again.code).toBe(2);
    expect(again.err).toContain("left a state file behind");

    const forced = await credproxyIn(["tunnel", "down", "--force", "crash"]);
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/^tunnel crash: state removed; /);
    expect(tunDevices()).toEqual([]);
    expect(vpcRoutes()).toEqual([]);
    expect(tunnelFiles()).toEqual([]);
  }, TEST_MS);

  test("--tag Name=bastion selects the instance and names the tunnel after the tag", async () => {
    const up = await credproxyIn(["tunnel", "up", "--cidr", VPC_CIDR, "--tag", "Name=bastion"]);
    expect(up.code).toBe(0);
    expect(up.out).toMatch(new RegExp(`^tunnel up: bastion via cpx\\d+ .* instance ${INSTANCE_ID}, `));
    const down = await credproxyIn(["tunnel", "down", "bastion"]);
    expect(down.out).toBe("tunnel bastion: down");
    expect(tunnelFiles()).toEqual([]);
  }, TEST_MS);

  test("a detached up that fails exits non-zero with the background process's error and leaves nothing", async () => {
    const up = await credproxyIn(["tunnel", "up", "--cidr", VPC_CIDR, "--instance-id", "i-0000000000000dead"]);
    expect(up.code).toBe(1);
    expect(up.out).toBe("");
    expect(up.err).toContain("i-0000000000000dead");
    expect(tunnelFiles()).toEqual([]);
    expect(tunDevices()).toEqual([]);
  }, TEST_MS);

  test("after the hourly Bye the tunnel resumes with credentials fetched again from --profile: status counts the reconnect and a ping still crosses", async () => {
    // A credential_process profile whose keys expire in a minute: every AWS call and every
    // upgrade signing must run it again, and it counts its runs.
    const dir = await tempDir();
    const runs = join(dir, "runs");
    const script = join(dir, "creds.sh");
    await Bun.write(script, `#!/bin/sh\necho run >> ${runs}\nexp=$(date -u -d '+60 seconds' +%Y-%m-%dT%H:%M:%SZ)\nprintf '{"Version":1,"AccessKeyId":"${DUMMY_CREDENTIALS.accessKeyId}","SecretAccessKey":"${DUMMY_CREDENTIALS.secretAccessKey}","SessionToken":"token-%s","Expiration":"%s"}' "$(wc -l < ${runs})" "$exp"\n`);
    await Bun.$`chmod 755 ${script}`;
    await Bun.write(join(dir, "config"), `[profile tun]\ncredential_process = ${script}\n`);
    const profileEnv = { ...env, AWS_CONFIG_FILE: join(dir, "config") };
    delete (profileEnv as Record<string, string | undefined>).AWS_ACCESS_KEY_ID;
    delete (profileEnv as Record<string, string | undefined>).AWS_SECRET_ACCESS_KEY;
    const runCount = () => readFileSync(runs, "utf8").split("\n").filter(Boolean).length;
    const up = await credproxyIn([...UP_ARGS, "--name", "bye", "--profile", "tun"], { env: profileEnv });
    expect({ code: up.code, err: up.err }).toEqual({ code: 0, err: "" });
    const runsBeforeBye = runCount();
    // The session of this tunnel (the SIGKILL test leaves its own session live at the fake).
    const sessionId = / session (\S+)$/.exec(up.out)![1];
    const session = (await control.sessions()).find((s) => s.id === sessionId)!;
    await control.bye(session.id);
    const report = await waitFor(
      async () => {
        const [r] = JSON.parse((await credproxyIn(["tunnel", "status", "bye", "--json"])).out) as Record<string, unknown>[];
        return r!.state === "up" && (r!.reconnects as number) >= 1 ? r : undefined;
      },
      { timeoutMs: 20_000, what: "the tunnel to resume after the Bye" },
    );
    expect(report).toMatchObject({ sessionId: session.id, reconnects: 1 });
    // ResumeSession and the new upgrade's signature each asked the profile again.
    console.log(`credential_process runs: ${runsBeforeBye} to tunnel up, ${runCount()} after the resume`);
    expect(runCount()).toBeGreaterThanOrEqual(runsBeforeBye + 2);
    expect((await control.sessions()).find((s) => s.id === session.id)).toMatchObject({ resumeCalls: 1, connected: true });
    expect(Bun.spawnSync([IP, "netns", "exec", topology.client, "ping", "-c", "1", "-W", "5", VPC_HOST]).exitCode).toBe(0);
    expect((await credproxyIn(["tunnel", "down", "bye"])).code).toBe(0);
    expect(tunnelFiles()).toEqual([]);
  }, TEST_MS);

  test("without root or CAP_NET_ADMIN it says so in one line, exits non-zero and creates nothing", async () => {
    const unprivileged = join(runtimeDir, "never");
    const r = await credproxyIn(UP_ARGS, { prefix: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"], env: { ...env, CREDPROXY_RUNTIME_DIR: unprivileged } });
    expect(r.code).toBe(1);
    expect(r.err.split("\n")[0]).toBe("error[E_PLATFORM]: tunnel up needs root or CAP_NET_ADMIN to create its TUN device and routes");
    expect(existsSync(unprivileged)).toBe(false);
    expect(tunDevices()).toEqual([]);
  }, TEST_MS);

  test("a bad flag is a usage error naming the flag, before anything is touched", async () => {
    const r = await credproxyIn(["tunnel", "up", "--cidr", "10.99.0.0/33", "--instance-id", INSTANCE_ID]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--cidr "10.99.0.0/33"');
    expect(tunnelFiles()).toEqual([]);
  }, TEST_MS);
});

describe("credproxy validate --tunnel (compiled binary)", () => {
  test("a valid tunnel file is described; a bad one lists every problem with file:line:col, as tunnel up --config does", async () => {
    const dir = await tempDir();
    const good = join(dir, "good.yaml");
    const bad = join(dir, "bad.yaml");
    await Bun.write(good, "cidrs: [10.20.0.0/16]\ntags: {Name: bastion}\nregion: eu-west-1\nname: work\n");
    await Bun.write(bad, "cidrs: [10.20.0.0/33]\ninstance_id: i-0123456789abcdef0\ntags: {Name: x}\nagent_port: 0\n");
    const ok = await runCredproxy(["validate", "--tunnel", good]);
    expect({ code: ok.code, stdout: ok.stdout }).toEqual({ code: 0, stdout: `${good}: valid (tunnel config)\n  name: work\n  cidrs: 10.20.0.0/16\n  tags: Name=bastion\n  region: eu-west-1\n` });
    const refused = await runCredproxy(["validate", "--tunnel", bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`Invalid config ${bad} (3 problems):`);
    for (const where of [`${bad}:1:9: cidrs[0]`, `${bad}:3:1: tags`, `${bad}:4:13: agent_port`]) expect(refused.stderr).toContain(where);
    const up = await runCredproxy(["tunnel", "up", "--config", bad]);
    expect(up.code).toBe(1);
    expect(up.stderr.split("\n").slice(0, 4)).toEqual(refused.stderr.split("\n").slice(0, 4));
  });

  test("validate --tunnel without a file is a usage error", async () => {
    const r = await runCredproxy(["validate", "--tunnel"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--tunnel needs the tunnel file");
  });
});
