/**
 * The fake SSM service as a process of its own (serve-fake-ssm.ts), driven by another process
 * through its /_fake/ control API: on loopback with the tiny client carrying data through every
 * fault, and inside the tunnel topology's instance namespace, where it listens on the instance's
 * veth address so that the client namespace reaches it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { spawnCredproxy, type CredproxyProcess } from "../helpers/binary.ts";
import { cleanupAll } from "../helpers/cleanup.ts";
import { FakeSsmControl } from "../helpers/fake-ssm/fake-control-client.ts";
import { DEFAULT_INSTANCE_ID } from "../helpers/fake-ssm/fake-ssm.ts";
import { startTcpEcho, type TcpEcho } from "../helpers/fake-ssm/tcp-echo.ts";
import { TinySsmClient } from "../helpers/fake-ssm/tiny-ssm-client.ts";
import { createTunnelTopology, INSTANCE_ADDRESS, runInNamespace, spawnInNamespace } from "../helpers/tunnel-topology.ts";
import { deferred, waitFor, withTimeout } from "../helpers/wait.ts";

const SERVE = join(import.meta.dir, "../helpers/fake-ssm/serve-fake-ssm.ts");
const LISTENING = /^fake-ssm listening on (http:\/\/\S+)$/;

afterAll(cleanupAll);

async function echoThrough(client: TinySsmClient, bytes: Uint8Array): Promise<string> {
  const hash = createHash("sha256");
  let received = 0;
  const done = deferred<void>();
  client.onData = (chunk) => {
    hash.update(chunk);
    received += chunk.length;
    if (received >= bytes.length) done.resolve();
  };
  client.send(bytes);
  await withTimeout(done.promise, 15_000, `${bytes.length} echoed bytes (got ${received})`);
  return hash.digest("hex");
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

describe("serve-fake-ssm on loopback", () => {
  let echo: TcpEcho;
  let fakeProcess: CredproxyProcess;
  let control: FakeSsmControl;
  let client: TinySsmClient;

  beforeAll(async () => {
    echo = await startTcpEcho();
    fakeProcess = spawnCredproxy([SERVE, "--target", `127.0.0.1:${echo.port}`, "--seed", "3"], { binary: process.execPath });
    const [, apiUrl] = await fakeProcess.waitForLine(LISTENING, 10_000, "stdout");
    control = new FakeSsmControl(apiUrl!);
    client = await TinySsmClient.start(apiUrl!);
    await withTimeout(client.ready.promise, 5000, "HandshakeComplete");
  });
  afterAll(async () => {
    client?.close();
    await echo?.close();
  });

  test("lists the session with the agent's counters", async () => {
    const session = await control.onlySession();
    expect(session).toMatchObject({ id: client.sessionId, target: DEFAULT_INSTANCE_ID, state: "live", connected: true, resumeCalls: 0, grants: 1 });
    expect(session.clientIds).toEqual([client.clientId]);
  });

  test("drops, duplicates and reordering switched on over the control API cost the data nothing", async () => {
    const faults = await control.setFaults({ toClient: { drop: 0.05, duplicate: 0.05, reorder: 0.05 }, fromClient: { drop: 0.05, duplicate: 0.05 } });
    expect(faults.toClient).toEqual({ drop: 0.05, duplicate: 0.05, reorder: 0.05 });
    const bytes = randomBytes(200_000);
    expect(await echoThrough(client, bytes)).toBe(sha256(bytes));
    const session = await control.onlySession();
    expect(session.toClient.dropped).toBeGreaterThan(0);
    expect(session.toClient.duplicated).toBeGreaterThan(0);
    expect(session.toClient.reordered).toBeGreaterThan(0);
    expect(session.agent.resends).toBeGreaterThan(0);
    expect((await control.resetFaults()).toClient).toEqual({ drop: 0, duplicate: 0, reorder: 0 });
  });

  test("withheld acks, pause/start and a Bye with resume are each survived", async () => {
    await control.withholdAcks(300);
    const first = randomBytes(50_000);
    expect(await echoThrough(client, first)).toBe(sha256(first));

    const paused = deferred<void>();
    client.onControl = (type) => type === "pause_publication" && paused.resolve();
    await control.pause(client.sessionId);
    await withTimeout(paused.promise, 5000, "pause_publication at the client");
    const whilePaused = randomBytes(20_000);
    const echoed = echoThrough(client, whilePaused);
    await control.start(client.sessionId);
    expect(await echoed).toBe(sha256(whilePaused));

    await control.bye(client.sessionId);
    const afterBye = randomBytes(30_000);
    expect(await echoThrough(client, afterBye)).toBe(sha256(afterBye));
    const session = await control.onlySession();
    expect(session.resumeCalls).toBe(1);
    expect(session.grants).toBe(2);
    expect(session.connected).toBe(true);
  });

  test("rejects an unknown switch and an unknown session", async () => {
    await expect(control.setFaults({ toClient: { drop: 2 } })).rejects.toThrow(/400/);
    await expect(control.setFaults({ nonsense: 1 } as never)).rejects.toThrow(/unknown fault switch nonsense/);
    await expect(control.bye("credproxy-test-0000")).rejects.toThrow(/404/);
  });

  test("stops on SIGTERM", async () => {
    client.close();
    expect(await fakeProcess.kill("SIGTERM")).toEqual({ code: 0, signal: null });
  });
});

const topology = createTunnelTopology("fss");
afterAll(() => topology.remove());

describe.skipIf(!topology.ok)("serve-fake-ssm inside the instance namespace", () => {
  test("listens on the instance's veth address: the client namespace reaches its API, and the control API answers through the namespace", async () => {
    const fake = spawnInNamespace(topology.instance, [process.execPath, SERVE, "--host", INSTANCE_ADDRESS, "--instance", "i-0aaaabbbbccccdddd"]);
    const [, apiUrl] = await fake.waitForLine(LISTENING, 10_000, "stdout");
    expect(apiUrl).toMatch(new RegExp(`^http://${INSTANCE_ADDRESS.replaceAll(".", "\\.")}:\\d+$`));
    // An unsigned SSM call from the client namespace: the fake answers (and refuses it, as AWS would).
    const unsigned = await runInNamespace(topology.client, ["curl", "-sS", "-X", "POST", "-H", "x-amz-target: AmazonSSM.StartSession", `${apiUrl}/`]);
    expect(unsigned.out).toContain("MissingAuthenticationTokenException");
    expect(await new FakeSsmControl(apiUrl!, topology.client).sessions()).toEqual([]);
    expect((await new FakeSsmControl(apiUrl!, topology.instance).setFaults({ dialDelayMs: 50 })).dialDelayMs).toBe(50);
    await fake.kill();
    await waitFor(async () => (await runInNamespace(topology.client, ["curl", "-sS", "--max-time", "1", `${apiUrl}/`])).code !== 0, { timeoutMs: 5000, what: "the fake to stop listening" });
  });
});
