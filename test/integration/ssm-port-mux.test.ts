/**
 * Mux mode end to end below the tunnel: the real data channel client wrapped in withPortMux,
 * against the fake Session Manager service serving AWS-StartPortForwardingSession (its Port
 * plugin in mux mode: one TCP connection per smux stream, real-agent pacing) and a TCP echo server.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { openDataChannel, type DataChannel } from "../../src/ssm/data-channel.ts";
import { withPortMux } from "../../src/ssm/port-mux-channel.ts";
import { callSsmApi, DUMMY_CREDENTIALS, FAKE_REGION } from "../helpers/fake-ssm/call-ssm-api.ts";
import { DEFAULT_INSTANCE_ID, PORT_FORWARDING_DOCUMENT, startFakeSsm, type FakeSsm } from "../helpers/fake-ssm/fake-ssm.ts";
import { noFaults } from "../helpers/fake-ssm/fault-switches.ts";
import { startTcpEcho, type TcpEcho } from "../helpers/fake-ssm/tcp-echo.ts";
import { deferred, waitFor, withTimeout } from "../helpers/wait.ts";

let echo: TcpEcho;
let fake: FakeSsm;
const channels: DataChannel[] = [];

beforeAll(async () => {
  echo = await startTcpEcho();
  fake = startFakeSsm({ target: { host: "127.0.0.1", port: echo.port }, seed: 21, documents: [PORT_FORWARDING_DOCUMENT, "AWS-StartSSHSession"] });
});

beforeEach(() => Object.assign(fake.faults, noFaults()));

afterAll(async () => {
  for (const channel of channels) await channel.close();
  await fake.stop();
  await echo.close();
});

/** withPortMux over a real data channel to `on`, StartSession with `document`. */
function openMux(on: FakeSsm = fake, document = PORT_FORWARDING_DOCUMENT): DataChannel {
  const channel = withPortMux(
    openDataChannel({
      start: async () => {
        const answer = await callSsmApi(on.apiUrl, "StartSession", { Target: DEFAULT_INSTANCE_ID, DocumentName: document, Parameters: { portNumber: ["7860"] } });
        if (answer.status !== 200) throw new Error(`StartSession ${answer.status}`);
        return { sessionId: String(answer.body["SessionId"]), streamUrl: String(answer.body["StreamUrl"]), tokenValue: String(answer.body["TokenValue"]) };
      },
      resume: async (sessionId) => {
        const answer = await callSsmApi(on.apiUrl, "ResumeSession", { SessionId: sessionId });
        return { streamUrl: String(answer.body["StreamUrl"]), tokenValue: String(answer.body["TokenValue"]) };
      },
      terminate: async (sessionId) => void (await callSsmApi(on.apiUrl, "TerminateSession", { SessionId: sessionId })),
      credentials: async () => DUMMY_CREDENTIALS,
      region: FAKE_REGION,
      allowInsecureStreamUrl: true,
    }),
  );
  channels.push(channel);
  return channel;
}

/** Sends `data` in 4 KiB writes, waiting for room when refused; resolves with what came back. */
async function roundTrip(channel: DataChannel, data: Uint8Array): Promise<Buffer> {
  const back: Uint8Array[] = [];
  let got = 0;
  const all = deferred<void>();
  channel.onData((bytes) => {
    back.push(bytes);
    got += bytes.length;
    if (got >= data.length) all.resolve();
  });
  let room = deferred<void>();
  channel.onWritable(() => room.resolve());
  let offset = 0;
  while (offset < data.length) {
    const part = data.subarray(offset, offset + 4096);
    if (!channel.write(part)) {
      await withTimeout(room.promise, 5000, "room to write");
      room = deferred<void>();
      continue;
    }
    offset += part.length;
  }
  await withTimeout(all.promise, 20_000, `the echo of ${data.length} bytes (got ${got})`);
  return Buffer.concat(back);
}

const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const agentOf = (channel: DataChannel, on = fake) => on.session(channel.stats().sessionId!).agent;

describe("AWS-StartPortForwardingSession in smux mode", () => {
  test("the handshake selects mux; 1 MiB comes back intact on one stream, one TCP connection at the agent", async () => {
    const channel = openMux();
    await withTimeout(channel.ready, 5000, "HandshakeComplete");
    expect(channel.portSession?.()).toEqual({ agentVersion: "3.3.4624.0", properties: { portNumber: "7860", type: "LocalPortForwarding" } });
    const data = randomBytes(1024 * 1024);
    expect(digest(await roundTrip(channel, data))).toBe(digest(data));
    const mux = agentOf(channel).mux!;
    expect(mux.stats).toMatchObject({ streamsOpened: 1, badFrames: 0 });
    expect(mux.openStreams).toBe(1);
  });

  test("with drops, duplicates and reordering both ways, the smux stream still arrives whole and once", async () => {
    Object.assign(fake.faults, noFaults(), { toClient: { drop: 0.05, duplicate: 0.05, reorder: 0.05 }, fromClient: { drop: 0.05, duplicate: 0.05, reorder: 0.05 } });
    const channel = openMux();
    await withTimeout(channel.ready, 5000, "HandshakeComplete");
    const data = randomBytes(256 * 1024);
    expect(digest(await roundTrip(channel, data))).toBe(digest(data));
    expect(agentOf(channel).mux!.stats.badFrames).toBe(0);
    expect(channel.stats().resends + channel.stats().duplicates).toBeGreaterThan(0);
  });

  test("a 1000 Bye mid-transfer is resumed under the smux stream: one stream, the bytes whole", async () => {
    const channel = openMux();
    await withTimeout(channel.ready, 5000, "HandshakeComplete");
    const data = randomBytes(512 * 1024);
    const back = roundTrip(channel, data);
    const agent = agentOf(channel);
    await waitFor(() => agent.stats.bytesFromTarget > 100_000, { timeoutMs: 10_000, what: "100 kB to pass the agent" });
    fake.sendBye(channel.stats().sessionId!);
    expect(digest(await back)).toBe(digest(data));
    expect(channel.stats().reconnects).toBe(1);
    expect(agent.mux!.stats).toMatchObject({ streamsOpened: 1, streamsClosed: 0, badFrames: 0 });
  });

  test("close() sends FIN: the agent closes the stream's TCP connection", async () => {
    const channel = openMux();
    await withTimeout(channel.ready, 5000, "HandshakeComplete");
    const data = randomBytes(10_000);
    expect(digest(await roundTrip(channel, data))).toBe(digest(data));
    const agent = agentOf(channel);
    await channel.close();
    await waitFor(() => agent.state === "terminated", { timeoutMs: 5000, what: "the session ended" });
    expect(agent.mux!.stats.fins).toBe(1);
  });

  test("an agent of 3.0.196.0 has no mux: the same document runs basic, raw bytes", async () => {
    const old = startFakeSsm({ target: { host: "127.0.0.1", port: echo.port }, documents: [PORT_FORWARDING_DOCUMENT], agentVersion: "3.0.196.0" });
    try {
      const channel = openMux(old);
      await withTimeout(channel.ready, 5000, "HandshakeComplete");
      const data = randomBytes(50_000);
      expect(digest(await roundTrip(channel, data))).toBe(digest(data));
      expect(agentOf(channel, old).mux).toBeUndefined();
      expect(agentOf(channel, old).stats.bytesToTarget).toBe(data.length);
      await channel.close();
    } finally {
      await old.stop();
    }
  });

  test("when the agent cannot dial the agent port, the channel ends with an error that names it", async () => {
    const closedEcho = await startTcpEcho();
    await closedEcho.close();
    const nowhere = startFakeSsm({ target: { host: "127.0.0.1", port: closedEcho.port }, documents: [PORT_FORWARDING_DOCUMENT] });
    try {
      const channel = openMux(nowhere);
      await withTimeout(channel.ready, 5000, "HandshakeComplete");
      const end = await withTimeout(channel.closed, 5000, "the channel to end");
      expect(end.error?.message).toMatch(/closed the smux stream: its connection to the agent port closed or could not be made/);
    } finally {
      await nowhere.stop();
    }
  });
});
