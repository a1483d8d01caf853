/**
 * The fake Session Manager service (test/helpers/fake-ssm/) as a client sees it: the SSM JSON
 * API over plain fetch, the signed ssmmessages upgrade and open frame, and a Port session to a
 * local TCP echo server carried by the tiny client built from src/ssm, with and without faults.
 * Everything runs on 127.0.0.1.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { ErrorCode } from "../../src/errors.ts";
import { signStreamUpgrade } from "../../src/ssm/sign-upgrade.ts";
import { callSsmApi, DUMMY_CREDENTIALS, FAKE_REGION } from "../helpers/fake-ssm/call-ssm-api.ts";
import { DEFAULT_INSTANCE_ID, startFakeSsm, type FakeSsm } from "../helpers/fake-ssm/fake-ssm.ts";
import { noFaults } from "../helpers/fake-ssm/fault-switches.ts";
import { START_PORT_SESSION, startTcpEcho, type TcpEcho } from "../helpers/fake-ssm/tcp-echo.ts";
import { TinySsmClient } from "../helpers/fake-ssm/tiny-ssm-client.ts";
import { deferred, waitFor, withTimeout } from "../helpers/wait.ts";

const MB = 1024 * 1024;
const START = START_PORT_SESSION;

let echo: TcpEcho;
let fake: FakeSsm;
const clients: TinySsmClient[] = [];

beforeAll(async () => {
  echo = await startTcpEcho();
  fake = startFakeSsm({ target: { host: "127.0.0.1", port: echo.port }, seed: 7 });
});

beforeEach(() => Object.assign(fake.faults, noFaults()));

afterAll(async () => {
  for (const client of clients) client.close();
  await fake.stop();
  await echo.close();
});

async function startClient(): Promise<TinySsmClient> {
  const client = await TinySsmClient.start(fake.apiUrl);
  clients.push(client);
  await withTimeout(client.ready.promise, 5000, "HandshakeComplete");
  return client;
}

/** Sends `bytes` through the session and resolves with everything the echo sent back. */
async function echoThrough(client: TinySsmClient, bytes: Uint8Array, onProgress: (received: number) => void = () => undefined): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let received = 0;
  const done = deferred<void>();
  client.onData = (chunk) => {
    chunks.push(chunk);
    received += chunk.length;
    onProgress(received);
    if (received >= bytes.length) done.resolve();
  };
  client.send(bytes);
  await withTimeout(done.promise, 8000, `${bytes.length} echoed bytes (got ${received})`);
  return Buffer.concat(chunks);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Dials a stream URL and reports whether the upgrade opened and how the socket closed. */
async function dial(url: string, options: { signed: boolean; openFrame?: string }): Promise<{ opened: boolean; code: number; reason: string }> {
  const headers = options.signed ? await signStreamUpgrade({ url, credentials: DUMMY_CREDENTIALS, region: FAKE_REGION }) : {};
  const ws = new WebSocket(url, { headers });
  const closed = deferred<{ opened: boolean; code: number; reason: string }>();
  let opened = false;
  ws.onopen = () => {
    opened = true;
    if (options.openFrame === undefined) ws.close(1000, "probe done");
    else ws.send(options.openFrame);
  };
  ws.onclose = (event) => closed.resolve({ opened, code: event.code, reason: event.reason });
  return withTimeout(closed.promise, 3000, "the probe socket to close");
}

describe("the SSM JSON API", () => {
  test("StartSession answers a session id, a token and a ws StreamUrl whose cell-number holds + and /", async () => {
    const answer = await callSsmApi(fake.apiUrl, "StartSession", START);
    expect(answer.status).toBe(200);
    expect(answer.body["SessionId"]).toMatch(/^credproxy-test-[0-9a-f]{17}$/);
    expect(answer.body["TokenValue"]).toEqual(expect.any(String));
    const url = String(answer.body["StreamUrl"]);
    expect(url).toStartWith(`${fake.apiUrl.replace("http", "ws")}/v1/data-channel/${answer.body["SessionId"]}?role=publish_subscribe&cell-number=`);
    expect(url.split("cell-number=")[1]).toMatch(/\+.*\//);
  });

  test("a call without a SigV4 Authorization header is refused with MissingAuthenticationTokenException", async () => {
    const answer = await callSsmApi(fake.apiUrl, "StartSession", START, { unsigned: true });
    expect(answer.status).toBe(400);
    expect(answer.body["__type"]).toBe("MissingAuthenticationTokenException");
  });

  test("StartSession refuses an unknown document and a target that is not connected", async () => {
    const badDocument = await callSsmApi(fake.apiUrl, "StartSession", { ...START, DocumentName: "SSM-SessionManagerRunShell" });
    expect([badDocument.status, badDocument.body["__type"]]).toEqual([400, "InvalidDocument"]);
    const offline = await callSsmApi(fake.apiUrl, "StartSession", { ...START, Target: "i-00000000000000000" });
    expect([offline.status, offline.body["__type"]]).toEqual([400, "TargetNotConnected"]);
  });

  test("DescribeInstanceInformation lists the instance as Online", async () => {
    const filter = { Filters: [{ Key: "InstanceIds", Values: [DEFAULT_INSTANCE_ID] }] };
    const answer = await callSsmApi(fake.apiUrl, "DescribeInstanceInformation", filter);
    expect(answer.status).toBe(200);
    expect(answer.body["InstanceInformationList"]).toEqual([expect.objectContaining({ InstanceId: DEFAULT_INSTANCE_ID, PingStatus: "Online" })]);
  });

  test("ResumeSession issues a new StreamUrl and token, and the old URL no longer opens", async () => {
    const started = await callSsmApi(fake.apiUrl, "StartSession", START);
    const resumed = await callSsmApi(fake.apiUrl, "ResumeSession", { SessionId: started.body["SessionId"] });
    expect(resumed.status).toBe(200);
    expect(resumed.body["StreamUrl"]).not.toBe(started.body["StreamUrl"]);
    expect(resumed.body["TokenValue"]).not.toBe(started.body["TokenValue"]);
    expect((await dial(String(started.body["StreamUrl"]), { signed: true })).opened).toBe(false);
    expect((await dial(String(resumed.body["StreamUrl"]), { signed: true })).opened).toBe(true);
  });

  test("TerminateSession sends channel_closed, and ResumeSession then returns an empty token", async () => {
    const client = await startClient();
    const answer = await callSsmApi(fake.apiUrl, "TerminateSession", { SessionId: client.sessionId });
    expect(answer.body).toEqual({ SessionId: client.sessionId });
    const closed = await withTimeout(client.ended.promise, 3000, "the session to end");
    expect(closed?.output).toBe(`Session ${client.sessionId} was terminated.`);
    expect(closed?.sessionId).toBe(client.sessionId);
    const resumed = await callSsmApi(fake.apiUrl, "ResumeSession", { SessionId: client.sessionId });
    expect(resumed.body["TokenValue"]).toBe("");
  });
});

describe("the ssmmessages WebSocket", () => {
  test("an upgrade without a SigV4 Authorization header is refused", async () => {
    const started = await callSsmApi(fake.apiUrl, "StartSession", START);
    expect((await dial(String(started.body["StreamUrl"]), { signed: false })).opened).toBe(false);
  });

  test("an open frame with the wrong token is closed with 1003", async () => {
    const started = await callSsmApi(fake.apiUrl, "StartSession", START);
    const open = JSON.stringify({ MessageSchemaVersion: "1.0", RequestId: crypto.randomUUID(), TokenValue: "not-the-token", ClientId: crypto.randomUUID(), ClientVersion: "1.2.896.0" });
    const outcome = await dial(String(started.body["StreamUrl"]), { signed: true, openFrame: open });
    expect(outcome).toEqual({ opened: true, code: 1003, reason: "request to open data channel does not contain token" });
  });

  test("the handshake asks for a Port session with the document's portNumber, and completes", async () => {
    const client = await startClient();
    const session = fake.session(client.sessionId);
    expect(session.agent.state).toBe("live");
    expect(session.clientIds).toEqual([client.clientId]);
    // HandshakeRequest and HandshakeComplete are the agent's first two sequence numbers.
    expect(session.agent.windowStats().outgoing.nextSequenceNumber).toBe(2);
  });
});

describe("how sessions end", () => {
  test("a HandshakeRequest for Standard_Stream is refused by the client, and the agent closes the session with its reason", async () => {
    fake.faults.sessionType = "Standard_Stream";
    const client = await TinySsmClient.start(fake.apiUrl);
    clients.push(client);
    await expect(client.ready.promise).rejects.toMatchObject({ code: ErrorCode.SsmHandshake });
    const closed = await withTimeout(client.ended.promise, 3000, "the session to end");
    expect(closed?.output).toBe("the client refused the session: credproxy accepts only Port sessions, not Standard_Stream");
    expect(fake.session(client.sessionId).terminated).toBe(true);
  });

  test("when ResumeSession is refused after a 1000 Bye, the session is over for the client", async () => {
    const client = await startClient();
    fake.faults.rejectResume = true;
    fake.sendBye(client.sessionId);
    expect(await withTimeout(client.ended.promise, 3000, "the client to give up")).toBeUndefined();
    expect(client.stats.resumes).toBe(1);
    expect(fake.session(client.sessionId).resumeCalls).toBe(1);
  });

  test("when the target closes its connection, the client gets all its bytes, then channel_closed", async () => {
    const greeter = createServer((socket) => socket.end("SSH-2.0-fake\r\n"));
    await new Promise<void>((resolve) => greeter.listen({ host: "127.0.0.1", port: 0 }, resolve));
    const port = (greeter.address() as { port: number }).port;
    const other = startFakeSsm({ target: { host: "127.0.0.1", port } });
    try {
      const client = await TinySsmClient.start(other.apiUrl);
      clients.push(client);
      const received: Uint8Array[] = [];
      client.onData = (bytes) => received.push(bytes);
      const closed = await withTimeout(client.ended.promise, 3000, "the session to end");
      expect(Buffer.concat(received).toString()).toBe("SSH-2.0-fake\r\n");
      expect(closed?.output).toBe("the port session ended: the target closed the connection");
    } finally {
      await other.stop();
      await new Promise<void>((resolve) => greeter.close(() => resolve()));
    }
  });

  test("the client's TerminateSession flag ends the session with channel_closed", async () => {
    const client = await startClient();
    client.sendTerminateFlag();
    const closed = await withTimeout(client.ended.promise, 3000, "the session to end");
    expect(closed?.output).toBe("the client ended the session");
    expect(fake.session(client.sessionId).terminated).toBe(true);
  });
});

describe("a Port session to a TCP echo server", () => {
  test("1 MB comes back intact with no faults, paced like the real agent", async () => {
    const client = await startClient();
    const data = randomBytes(MB);
    const started = performance.now();
    const back = await echoThrough(client, data);
    const seconds = (performance.now() - started) / 1000;
    console.log(`1 MB echo, no faults: ${seconds.toFixed(2)} s (${(1 / seconds).toFixed(2)} MB/s), client resends ${client.stats.resends}, agent resends ${fake.session(client.sessionId).agent.stats.resends}, not-ready drops ${fake.session(client.sessionId).agent.stats.notReadyDrops}`);
    expect(back.length).toBe(MB);
    expect(sha256(back)).toBe(sha256(data));
    const agent = fake.session(client.sessionId).agent;
    expect(agent.stats.bytesToTarget).toBe(MB);
    expect(agent.stats.bytesFromTarget).toBe(MB);
  });

  test("1 MB comes back intact with drop, duplicate and reorder on in both directions", async () => {
    const client = await startClient();
    const faulty = { drop: 0.03, duplicate: 0.03, reorder: 0.05 };
    Object.assign(fake.faults, { toClient: { ...faulty }, fromClient: { ...faulty } });
    const data = randomBytes(MB);
    const back = await echoThrough(client, data);
    expect(sha256(back)).toBe(sha256(data));
    const agent = fake.session(client.sessionId).agent;
    expect(agent.toClient.stats.dropped).toBeGreaterThan(0);
    expect(agent.toClient.stats.duplicated).toBeGreaterThan(0);
    expect(agent.toClient.stats.reordered).toBeGreaterThan(0);
    expect(agent.fromClient.stats.dropped).toBeGreaterThan(0);
    expect(agent.stats.resends).toBeGreaterThan(0);
    expect(client.stats.resends).toBeGreaterThan(0);
    console.log(`faults: agent resent ${agent.stats.resends}, client resent ${client.stats.resends}`, agent.toClient.stats, agent.fromClient.stats);
  });

  test("a 1000 Bye mid-transfer, then ResumeSession to the new URL, continues without loss", async () => {
    const client = await startClient();
    const data = randomBytes(MB);
    let byeSent = false;
    const back = await echoThrough(client, data, (received) => {
      if (byeSent || received < MB / 4) return;
      byeSent = true;
      fake.sendBye(client.sessionId);
    });
    expect(sha256(back)).toBe(sha256(data));
    expect(client.stats.resumes).toBe(1);
    expect(client.streamUrls).toHaveLength(2);
    expect(client.streamUrls[1]).not.toBe(client.streamUrls[0]);
    // The same ClientId on both opens, as the plugin does.
    expect(fake.session(client.sessionId).clientIds).toEqual([client.clientId, client.clientId]);
  });

  test("Output sent before the agent's port connection is up goes unacked and is resent", async () => {
    fake.faults.dialDelayMs = 150;
    const client = await startClient();
    const data = randomBytes(16 * 1024);
    const back = await echoThrough(client, data);
    expect(sha256(back)).toBe(sha256(data));
    expect(fake.session(client.sessionId).agent.stats.notReadyDrops).toBeGreaterThan(0);
    expect(client.stats.resends).toBeGreaterThan(0);
  });

  test("acks withheld for 300 ms make the client resend, and the data still arrives once", async () => {
    const client = await startClient();
    fake.withholdAcks(300);
    const data = randomBytes(64 * 1024);
    const back = await echoThrough(client, data);
    expect(sha256(back)).toBe(sha256(data));
    // The echo can be back before any ack is: wait for the held acks to clear the client's window.
    await waitFor(() => client.outgoingStats().unackedMessages === 0, { timeoutMs: 3000, what: "every client message acked" });
    expect(client.stats.resends).toBeGreaterThan(0);
    const agent = fake.session(client.sessionId).agent;
    expect(agent.windowStats().incoming.duplicates).toBeGreaterThan(0);
    expect(agent.stats.bytesToTarget).toBe(data.length);
  });

  test("stream messages sent into a pause_publication are dropped, and start_publication brings them through", async () => {
    const client = await startClient();
    const paused = deferred<void>();
    client.onControl = (type) => type === "pause_publication" && paused.resolve();
    fake.pausePublication(client.sessionId);
    const data = randomBytes(16 * 1024);
    // Sent before the client can have read the pause: the agent drops these unacked.
    const back = echoThrough(client, data);
    await withTimeout(paused.promise, 3000, "pause_publication at the client");
    const agent = fake.session(client.sessionId).agent;
    await waitFor(() => agent.stats.pausedDrops > 0, { timeoutMs: 3000, what: "a message dropped while paused" });
    expect(agent.stats.bytesToTarget).toBe(0);
    fake.startPublication(client.sessionId);
    expect(sha256(await back)).toBe(sha256(data));
  });
});
