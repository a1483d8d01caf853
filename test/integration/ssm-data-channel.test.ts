/**
 * The real data channel client (src/ssm/data-channel.ts) against the fake Session Manager
 * service: Bun's WebSocket, the signed upgrade, a Port session to a TCP echo server on
 * 127.0.0.1, with the fake agent's real-agent pacing (1024-byte reads, 1 ms pause) and faults.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { CredproxyError, ErrorCode } from "../../src/errors.ts";
import { openDataChannel, type DataChannel, type DataChannelOptions, type DataChannelState } from "../../src/ssm/data-channel.ts";
import { callSsmApi, DUMMY_CREDENTIALS, FAKE_REGION } from "../helpers/fake-ssm/call-ssm-api.ts";
import { startFakeSsm, type FakeSsm } from "../helpers/fake-ssm/fake-ssm.ts";
import { noFaults } from "../helpers/fake-ssm/fault-switches.ts";
import { START_PORT_SESSION, startTcpEcho, type TcpEcho } from "../helpers/fake-ssm/tcp-echo.ts";
import { deferred, waitFor, withTimeout } from "../helpers/wait.ts";
import { encodeClientMessage } from "../../src/ssm/client-message.ts";
import { MessageType, PayloadType } from "../../src/ssm/message-types.ts";

const MB = 1024 * 1024;
const START = START_PORT_SESSION;

let echo: TcpEcho;
let fake: FakeSsm;
const channels: DataChannel[] = [];

beforeAll(async () => {
  echo = await startTcpEcho();
  fake = startFakeSsm({ target: { host: "127.0.0.1", port: echo.port }, seed: 11 });
});

beforeEach(() => Object.assign(fake.faults, noFaults()));

afterAll(async () => {
  for (const channel of channels) await channel.close();
  await fake.stop();
  await echo.close();
});

interface Opened {
  readonly channel: DataChannel;
  readonly states: DataChannelState[];
  readonly calls: { credentials: number; resume: number; terminate: number };
}

/** The client wired to the fake's API with plain signed fetches, as the SDK would be. */
function open(overrides: Partial<DataChannelOptions> = {}, { insecure = true, on = fake } = {}): Opened {
  const calls = { credentials: 0, resume: 0, terminate: 0 };
  const channel = openDataChannel({
    start: async () => {
      const answer = await callSsmApi(on.apiUrl, "StartSession", START);
      if (answer.status !== 200) throw new Error(`StartSession ${answer.status}`);
      return { sessionId: String(answer.body["SessionId"]), streamUrl: String(answer.body["StreamUrl"]), tokenValue: String(answer.body["TokenValue"]) };
    },
    resume: async (sessionId) => {
      calls.resume++;
      const answer = await callSsmApi(on.apiUrl, "ResumeSession", { SessionId: sessionId });
      if (answer.status !== 200) throw new Error(`ResumeSession ${answer.status}`);
      return { streamUrl: String(answer.body["StreamUrl"]), tokenValue: String(answer.body["TokenValue"]) };
    },
    terminate: async (sessionId) => {
      calls.terminate++;
      await callSsmApi(on.apiUrl, "TerminateSession", { SessionId: sessionId });
    },
    credentials: async () => {
      calls.credentials++;
      return DUMMY_CREDENTIALS;
    },
    region: FAKE_REGION,
    ...(insecure ? { allowInsecureStreamUrl: true } : {}),
    ...overrides,
  });
  channels.push(channel);
  const states: DataChannelState[] = [];
  channel.onState((state) => states.push(state));
  return { channel, states, calls };
}

async function openReady(overrides: Partial<DataChannelOptions> = {}, on = fake): Promise<Opened> {
  const opened = open(overrides, { on });
  await withTimeout(opened.channel.ready, 5000, "HandshakeComplete");
  return opened;
}

/** Writes `data` with backpressure (waiting for onWritable) and resolves with all the echo sent back. */
async function echoThrough(channel: DataChannel, data: Uint8Array, onProgress: (received: number) => void = () => undefined): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let received = 0;
  const done = deferred<void>();
  channel.onData((chunk) => {
    chunks.push(chunk);
    received += chunk.length;
    onProgress(received);
    if (received >= data.length) done.resolve();
  });
  let writable = deferred<void>();
  channel.onWritable(() => writable.resolve());
  for (let at = 0; at < data.length; ) {
    const piece = data.subarray(at, at + 8 * 1024);
    if (channel.write(piece)) {
      at += piece.length;
      continue;
    }
    await withTimeout(writable.promise, 5000, "room in the window");
    writable = deferred<void>();
  }
  await withTimeout(done.promise, 10_000, `${data.length} echoed bytes (got ${received})`);
  return Buffer.concat(chunks);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

describe("a Port session through the data channel client", () => {
  test("1 MB comes back intact with no faults, and the throughput with real-agent pacing is logged", async () => {
    const { channel, states } = await openReady();
    const data = randomBytes(MB);
    const started = performance.now();
    const back = await echoThrough(channel, data);
    const seconds = (performance.now() - started) / 1000;
    expect(sha256(back)).toBe(sha256(data));
    const stats = channel.stats();
    console.log(`data channel, 1 MiB echo, paced, no faults: ${seconds.toFixed(2)} s = ${(1 / seconds).toFixed(2)} MiB/s each way; resends ${stats.resends}, srtt ${stats.srttMs.toFixed(1)} ms`);
    expect(stats).toMatchObject({ state: "up", bytesOut: MB, bytesIn: MB, messagesOut: 1024, parseErrors: 0, reconnects: 0 });
    expect(states).toEqual(["up"]);
    expect(fake.session(stats.sessionId!).agent.stats.bytesToTarget).toBe(MB);
  });

  test("2 MiB comes back intact through an unpaced agent, and that throughput is logged", async () => {
    const unpaced = startFakeSsm({ target: { host: "127.0.0.1", port: echo.port }, readPauseMs: 0 });
    try {
      const { channel } = await openReady({}, unpaced);
      const data = randomBytes(2 * MB);
      const started = performance.now();
      const back = await echoThrough(channel, data);
      const seconds = (performance.now() - started) / 1000;
      expect(sha256(back)).toBe(sha256(data));
      console.log(`data channel, 2 MiB echo, unpaced: ${seconds.toFixed(2)} s = ${(2 / seconds).toFixed(2)} MiB/s each way; resends ${channel.stats().resends}`);
      await channel.close();
    } finally {
      await unpaced.stop();
    }
  });

  test("1 MB comes back intact with drop, duplicate and reorder on in both directions", async () => {
    const { channel } = await openReady();
    const faulty = { drop: 0.03, duplicate: 0.03, reorder: 0.05 };
    Object.assign(fake.faults, { toClient: { ...faulty }, fromClient: { ...faulty } });
    const data = randomBytes(MB);
    const back = await echoThrough(channel, data);
    expect(sha256(back)).toBe(sha256(data));
    const stats = channel.stats();
    const agent = fake.session(stats.sessionId!).agent;
    expect(agent.toClient.stats.duplicated).toBeGreaterThan(0);
    expect(agent.fromClient.stats.dropped).toBeGreaterThan(0);
    expect(stats.resends).toBeGreaterThan(0);
    expect(stats.duplicates).toBeGreaterThan(0);
    expect(agent.stats.bytesToTarget).toBe(MB);
  });

  test("a 1000 Bye mid-transfer resumes to the new StreamUrl with fresh credentials and the same ClientId, and nothing is lost", async () => {
    const { channel, states, calls } = await openReady();
    const sessionId = channel.stats().sessionId!;
    const data = randomBytes(MB);
    let byeSent = false;
    const back = await echoThrough(channel, data, (received) => {
      if (byeSent || received < MB / 4) return;
      byeSent = true;
      fake.sendBye(sessionId);
    });
    expect(sha256(back)).toBe(sha256(data));
    const session = fake.session(sessionId);
    expect(channel.stats().reconnects).toBe(1);
    expect(calls).toMatchObject({ resume: 1, credentials: 2 });
    expect(session.grants).toHaveLength(2);
    expect(session.clientIds).toHaveLength(2);
    expect(session.clientIds[1]).toBe(session.clientIds[0]!);
    expect(states).toEqual(["up", "resuming", "up"]);
    expect(session.agent.stats.bytesToTarget).toBe(MB);
  });

  test("acks withheld for 300 ms make the client resend, and the target still gets every byte once", async () => {
    const { channel } = await openReady();
    fake.withholdAcks(300);
    const data = randomBytes(64 * 1024);
    const back = await echoThrough(channel, data);
    expect(sha256(back)).toBe(sha256(data));
    await waitFor(() => channel.stats().unackedBytes === 0, { timeoutMs: 3000, what: "every client message acked" });
    expect(channel.stats().resends).toBeGreaterThan(0);
    const agent = fake.session(channel.stats().sessionId!).agent;
    expect(agent.windowStats().incoming.duplicates).toBeGreaterThan(0);
    expect(agent.stats.bytesToTarget).toBe(data.length);
  });

  test("data written into a pause_publication is dropped by the agent and comes through after start_publication", async () => {
    const { channel } = await openReady();
    const sessionId = channel.stats().sessionId!;
    fake.pausePublication(sessionId);
    const data = randomBytes(16 * 1024);
    const back = echoThrough(channel, data);
    const agent = fake.session(sessionId).agent;
    await waitFor(() => agent.stats.pausedDrops > 0, { timeoutMs: 3000, what: "a message dropped while paused" });
    const resendsWhilePaused = channel.stats().resends;
    expect(agent.stats.bytesToTarget).toBe(0);
    fake.startPublication(sessionId);
    expect(sha256(await back)).toBe(sha256(data));
    expect(channel.stats().resends).toBeGreaterThan(resendsWhilePaused);
  });
});

describe("outages and bad frames", () => {
  test("data written while the socket is down is queued, then sent on the resumed socket, once", async () => {
    const { channel } = await openReady();
    const sessionId = channel.stats().sessionId!;
    const data = randomBytes(4 * 1024);
    const received: Uint8Array[] = [];
    const done = deferred<void>();
    channel.onData((chunk) => {
      received.push(chunk);
      if (Buffer.concat(received).length >= data.length) done.resolve();
    });
    const accepted: boolean[] = [];
    channel.onState((state) => state === "resuming" && accepted.push(channel.write(data)));
    fake.sendBye(sessionId);
    await withTimeout(done.promise, 5000, "the echo after the resume");
    expect(accepted).toEqual([true]);
    expect(sha256(Buffer.concat(received))).toBe(sha256(data));
    expect(fake.session(sessionId).agent.stats.bytesToTarget).toBe(data.length);
  });

  test("frames that do not decode are counted and skipped, and the session carries on", async () => {
    const { channel } = await openReady();
    const socket = fake.session(channel.stats().sessionId!).socket!;
    const good = encodeClientMessage({
      messageType: MessageType.OutputStreamData, schemaVersion: 1, createdDate: Date.now(), sequenceNumber: 999, flags: 0n,
      messageId: crypto.randomUUID(), payloadType: PayloadType.Output, payload: new Uint8Array([1, 2, 3]),
    });
    const badDigest = Uint8Array.from(good);
    badDigest[badDigest.length - 1] = 9;
    socket.send(new Uint8Array(50));
    socket.send(badDigest);
    const data = randomBytes(4 * 1024);
    expect(sha256(await echoThrough(channel, data))).toBe(sha256(data));
    expect(channel.stats().parseErrors).toBe(2);
  });

  test("when ResumeSession keeps failing, the channel gives up at the end of its budget with a clear error", async () => {
    const { channel, calls } = await openReady({ resumeBudgetMs: 400 });
    fake.faults.rejectResume = true;
    fake.sendBye(channel.stats().sessionId!);
    const closed = await withTimeout(channel.closed, 3000, "the channel to give up");
    expect(closed.error?.code).toBe(ErrorCode.SsmSetting);
    expect(closed.reason).toContain("could not resume the session within 400 ms");
    expect(calls.resume).toBeGreaterThanOrEqual(2);
    expect(channel.stats().state).toBe("down");
  });
});

describe("how the channel ends", () => {
  test("close() sends TerminateSession and the channel ends down with the client's reason", async () => {
    const { channel, states, calls } = await openReady();
    const sessionId = channel.stats().sessionId!;
    const closed = await withTimeout(channel.close(), 3000, "close");
    expect(closed).toEqual({ reason: "closed by the client" });
    expect(calls.terminate).toBe(1);
    expect(fake.session(sessionId).terminated).toBe(true);
    expect(states.at(-1)).toBe("down");
    expect(channel.write(new Uint8Array([1]))).toBe(false);
  });

  test("a TerminateSession from elsewhere arrives as channel_closed and ends the channel without a resume", async () => {
    const { channel, calls } = await openReady();
    const sessionId = channel.stats().sessionId!;
    await callSsmApi(fake.apiUrl, "TerminateSession", { SessionId: sessionId });
    const closed = await withTimeout(channel.closed, 3000, "the channel to end");
    expect(closed.reason).toBe(`Session ${sessionId} was terminated.`);
    expect(calls.resume).toBe(0);
  });

  test("without a HandshakeRequest in time the channel ends with E_SSM_HANDSHAKE and terminates the session", async () => {
    const silent = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request, server) => (server.upgrade(request, { data: undefined }) ? undefined : new Response("no", { status: 400 })),
      websocket: { message() {} },
    });
    try {
      const terminated: string[] = [];
      const channel = openDataChannel({
        start: async () => ({ sessionId: "s-silent", streamUrl: `ws://127.0.0.1:${silent.port}/v1/data-channel/s-silent`, tokenValue: "token" }),
        resume: async () => undefined,
        terminate: async (id) => void terminated.push(id),
        credentials: async () => DUMMY_CREDENTIALS,
        region: FAKE_REGION,
        allowInsecureStreamUrl: true,
        handshakeTimeoutMs: 200,
      });
      await expect(channel.ready).rejects.toMatchObject({ code: ErrorCode.SsmHandshake, message: "no data channel handshake within 200 ms" });
      expect((await channel.closed).error?.code).toBe(ErrorCode.SsmHandshake);
      expect(terminated).toEqual(["s-silent"]);
    } finally {
      await silent.stop(true);
    }
  });

  test("a ws:// StreamUrl is refused without the test switch, before any upgrade", async () => {
    const saved = process.env["CREDPROXY_INSECURE_STREAM_URL"];
    delete process.env["CREDPROXY_INSECURE_STREAM_URL"];
    try {
      const { channel } = open({}, { insecure: false });
      await expect(channel.ready).rejects.toMatchObject({ code: ErrorCode.SsmSetting });
      const closed = await channel.closed;
      expect(closed.error?.code).toBe(ErrorCode.SsmSetting);
      expect(closed.reason).toContain("only wss:// on an ssmmessages host");
      expect(fake.session(channel.stats().sessionId!).clientIds).toEqual([]);
    } finally {
      if (saved !== undefined) process.env["CREDPROXY_INSECURE_STREAM_URL"] = saved;
    }
  });

  test("a HandshakeRequest for a shell session is refused with an E_SSM_HANDSHAKE CredproxyError, and the agent ends the session", async () => {
    fake.faults.sessionType = "Standard_Stream";
    const { channel } = open();
    const error = await channel.ready.then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(CredproxyError);
    expect(error).toMatchObject({ code: ErrorCode.SsmHandshake, hint: expect.stringContaining("Port") });
    expect((await channel.closed).error).toBe(error as CredproxyError);
    const session = fake.session(channel.stats().sessionId!);
    await waitFor(() => session.terminated, { timeoutMs: 3000, what: "the fake agent to end the session" });
    expect(session.agent.closedReason).toContain("credproxy accepts only Port sessions");
  });
});
