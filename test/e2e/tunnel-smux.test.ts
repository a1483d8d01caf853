/**
 * The smux fallback through the whole tunnel: the compiled `credproxy tunnel up` in the client
 * namespace, the fake SSM service in the instance namespace with AWS-StartSSHSession denied (a
 * policy that allows only AWS-StartPortForwardingSession) and its Port plugin in mux mode (one
 * TCP connection per smux stream, real-agent pacing), the compiled `credproxy agent`, and the
 * vpc services. The sibling of tunnel-traffic.test.ts, which runs basic mode.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { credproxyBinary, tempDir, type CredproxyProcess } from "../helpers/binary.ts";
import { killRecordedTunnels, processGone, tunnelClientEnv } from "../helpers/tunnel-client-env.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { FakeSsmControl } from "../helpers/fake-ssm/fake-control-client.ts";
import { bulkSha256 } from "../helpers/tunnel-hosts/bulk-bytes.ts";
import { BULK_PORT } from "../helpers/tunnel-hosts/vpc-ports.ts";
import { waitFor } from "../helpers/wait.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, linkNames, runInNamespace, spawnInNamespace, VPC_CIDR, VPC_HOST } from "../helpers/tunnel-topology.ts";

const HELPERS = join(import.meta.dir, "../helpers");
const INSTANCE_ID = "i-0feedfacecafe0007";
const MB = 1_000_000;
const FORWARDING = "AWS-StartPortForwardingSession";

const topology = createTunnelTopology("tmx");
let runtimeDir = "";
let env: Record<string, string> = {};
let control: FakeSsmControl;
let agent: CredproxyProcess;

afterAll(async () => {
  killRecordedTunnels(runtimeDir);
  await cleanupAll();
  topology.remove();
});

const credproxyIn = (args: readonly string[]) => runInNamespace(topology.client, [credproxyBinary(), ...args], { env, exactEnv: true, timeoutMs: 60_000 });

async function probe<T>(args: readonly (string | number)[]): Promise<T> {
  const run = await runInNamespace(topology.client, [process.execPath, join(HELPERS, "tunnel-hosts/tunnel-probe.ts"), ...args.map(String)], { timeoutMs: 120_000 });
  if (run.code !== 0) throw new Error(`probe ${args.join(" ")} failed (exit ${run.code}): ${run.err}`);
  return JSON.parse(run.out.split("\n").at(-1)!) as T;
}

async function tunnelUp(name: string, extra: readonly string[]): Promise<string> {
  const up = await credproxyIn(["tunnel", "up", "--cidr", VPC_CIDR, "--instance-id", INSTANCE_ID, "--agent-port", String(agentPort), "--name", name, ...extra]);
  if (up.code !== 0) throw new Error(`tunnel up failed (exit ${up.code}): ${up.err}\nagent: ${agent.tail(20)}`);
  return / session (\S+)$/.exec(up.out)![1]!;
}

const recordFile = (name: string) => join(runtimeDir, "tunnels", `${name}.json`);
/** SIGKILLs the tunnel process of `name`, as a crash would, and waits for it to be gone. */
async function crash(name: string): Promise<void> {
  const { pid } = JSON.parse(readFileSync(recordFile(name), "utf8")) as { pid: number };
  process.kill(pid, "SIGKILL");
  await waitFor(() => processGone(pid), { timeoutMs: 5000, what: "the tunnel process to die" });
}
const tunnelLog = (name: string) => readFileSync(join(runtimeDir, "tunnels", `${name}.log`), "utf8");
const clientDevices = (): string[] => linkNames(topology.client).filter((n) => n.startsWith("cpx"));
let agentPort = 0;

describe.skipIf(!topology.ok)("a tunnel on one smux stream (AWS-StartPortForwardingSession)", () => {
  let sessionId = "";

  beforeAll(async () => {
    const vpc = spawnInNamespace(topology.vpc, [process.execPath, join(HELPERS, "tunnel-hosts/vpc-services.ts"), "--answer", VPC_HOST]);
    await vpc.waitForLine(/^vpc services ready$/, 10_000, "stdout");
    agent = spawnInNamespace(topology.instance, [credproxyBinary(), "agent", "--listen", "127.0.0.1:0"]);
    agentPort = Number((await agent.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), /, 15_000, "stdout"))[1]);
    const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${INSTANCE_ID}=bastion`]);
    const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
    const fake = spawnInNamespace(topology.instance, [
      process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), "--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${agentPort}`, "--instance", INSTANCE_ID,
      "--document", FORWARDING, "--deny-document", "AWS-StartSSHSession",
    ]);
    const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
    control = new FakeSsmControl(apiUrl!, topology.instance);
    runtimeDir = await tempDir("credproxy-smux-rt-");
    env = tunnelClientEnv({ ssm: apiUrl!, ec2: ec2! }, runtimeDir);
  }, 60_000);

  test("--document AWS-StartPortForwardingSession: the session runs in mux mode, one smux stream, one agent connection", async () => {
    sessionId = await tunnelUp("mux", ["--document", FORWARDING]);
    await agent.waitForLine(/client session up/, 10_000, "stderr");
    const session = (await control.sessions()).find((s) => s.id === sessionId)!;
    expect(session.documentName).toBe(FORWARDING);
    expect(session.mux).toMatchObject({ streamsOpened: 1, streamsClosed: 0, badFrames: 0 });
    expect(tunnelLog("mux")).toContain("port session in mux mode: one smux v1 stream (id 3) carries the tunnel");
  }, 60_000);

  test("ping and a 5 MB download and 1 MB upload arrive whole through the smux stream", async () => {
    const ping = await runInNamespace(topology.client, ["ping", "-c", "3", "-i", "0.2", "-W", "5", VPC_HOST]);
    expect(ping.out).toContain("3 received");
    const get = await probe<{ bytes: number; sha256: string; ms: number }>(["get", VPC_HOST, BULK_PORT, 5 * MB, "mux-down"]);
    expect({ bytes: get.bytes, sha256: get.sha256 }).toEqual({ bytes: 5 * MB, sha256: bulkSha256("mux-down", 5 * MB) });
    const put = await probe<{ reply: string }>(["put", VPC_HOST, BULK_PORT, MB, "mux-up"]);
    expect(put.reply).toBe(`sha256 ${bulkSha256("mux-up", MB)} ${MB}`);
    console.log(`smux mode: 5 MB down in ${(get.ms / 1000).toFixed(1)} s (${(5 / (get.ms / 1000)).toFixed(2)} MB/s)`);
  }, 120_000);

  test("drops and duplicates at the data channel under the smux stream are survived: the transfer arrives whole", async () => {
    await control.setFaults({ toClient: { drop: 0.03, duplicate: 0.03 }, fromClient: { drop: 0.03, duplicate: 0.03 } });
    try {
      const get = await probe<{ bytes: number; sha256: string }>(["get", VPC_HOST, BULK_PORT, MB, "mux-faulty"]);
      expect({ bytes: get.bytes, sha256: get.sha256 }).toEqual({ bytes: MB, sha256: bulkSha256("mux-faulty", MB) });
      const session = (await control.sessions()).find((s) => s.id === sessionId)!;
      expect(session.toClient.dropped + session.fromClient.dropped).toBeGreaterThan(0);
      expect(session.toClient.duplicated + session.fromClient.duplicated).toBeGreaterThan(0);
      expect(session.mux).toMatchObject({ streamsOpened: 1, badFrames: 0 });
    } finally {
      await control.resetFaults();
    }
  }, 120_000);

  test("tunnel down sends FIN on the stream and ends the session", async () => {
    expect((await credproxyIn(["tunnel", "down", "mux"])).code).toBe(0);
    const session = (await control.sessions()).find((s) => s.id === sessionId)!;
    expect(session.state).toBe("terminated");
    expect(session.mux!.fins).toBe(1);
    expect(clientDevices()).toEqual([]);
  }, 60_000);

  test("the default document denied: StartSession falls back to AWS-StartPortForwardingSession with a warning, and traffic flows", async () => {
    const fallback = await tunnelUp("fallback", []);
    const log = tunnelLog("fallback");
    expect(log).toContain("StartSession with AWS-StartSSHSession was denied; trying AWS-StartPortForwardingSession (smux mode)");
    expect(log).toContain("port session in mux mode");
    expect((await control.sessions()).find((s) => s.id === fallback)!.documentName).toBe(FORWARDING);
    const ping = await runInNamespace(topology.client, ["ping", "-c", "2", "-i", "0.2", "-W", "5", VPC_HOST]);
    expect(ping.out).toContain("2 received");
    expect((await credproxyIn(["tunnel", "down", "fallback"])).code).toBe(0);
  }, 60_000);

  test("after a SIGKILL, down --force cleans up and calls TerminateSession with the recorded region and endpoint", async () => {
    const crashed = await tunnelUp("crash", ["--document", FORWARDING]);
    expect(JSON.parse(readFileSync(recordFile("crash"), "utf8"))).toMatchObject({ region: env.AWS_REGION, ssmEndpoint: env.AWS_ENDPOINT_URL_SSM, sessionId: crashed });
    await crash("crash");
    expect((await control.sessions()).find((s) => s.id === crashed)!.state).toBe("live");
    const forced = await credproxyIn(["tunnel", "down", "--force", "crash"]);
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(new RegExp(`^tunnel crash: state removed; .*; session ${crashed} terminated$`));
    expect((await control.sessions()).find((s) => s.id === crashed)!.state).toBe("terminated");
    expect(clientDevices()).toEqual([]);
  }, 60_000);

  test("down --force with an SSM endpoint that does not answer still cleans up, with a warning", async () => {
    const crashed = await tunnelUp("crash2", ["--document", FORWARDING]);
    await crash("crash2");
    const record = JSON.parse(readFileSync(recordFile("crash2"), "utf8")) as Record<string, unknown>;
    // Port 9 (discard) on loopback: nothing listens there, so the call is refused at once.
    writeFileSync(recordFile("crash2"), JSON.stringify({ ...record, ssmEndpoint: "http://127.0.0.1:9" }));
    const forced = await credproxyIn(["tunnel", "down", "--force", "crash2"]);
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/^tunnel crash2: state removed; /);
    expect(forced.err).toContain(`warning: tunnel crash2: TerminateSession for ${crashed} failed (`);
    expect(clientDevices()).toEqual([]);
    await control.terminate(crashed);
  }, 60_000);
});
