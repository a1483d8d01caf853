import { afterAll, describe, expect, test } from "bun:test";
import { createServer, type AddressInfo, type Server } from "node:net";
import { parseCidr, type Cidr } from "../net/cidr.ts";
import { FakeClock } from "../tunnel/_fake-tunnel-clock.ts";
import { CAPABILITY_IN_FLIGHT_BOUND, CAPABILITY_STREAMS, CloseReason, encodeFrame, encodeHelloAck, encodePing, encodeRxReport, FrameDecoder, type Frame } from "../tunnel/framing.ts";
import type { MuxStream } from "../tunnel/streams/stream-mux.ts";
import { OpenFailReason, type StreamFrame } from "../tunnel/streams/stream-frames.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { streamDialer } from "./stream-dialer.ts";
import { StreamAgentSession } from "./stream-agent-session.ts";

/** The SSM agent's connection: everything the session writes, decoded as the client would. */
function fakeConnection() {
  const decoder = new FrameDecoder({ from: "agent" });
  const frames: Frame[] = [];
  const state = { ended: false, bytes: 0 };
  return {
    frames,
    state,
    write(data: Uint8Array) {
      state.bytes += data.length;
      frames.push(...decoder.push(data));
      return data.length;
    },
    end: () => void (state.ended = true),
    destroy: () => void (state.ended = true),
  };
}

function ack(capabilities: number): Uint8Array {
  return encodeHelloAck({
    version: { major: 1, minor: 0 },
    capabilities,
    clientId: new Uint8Array(16),
    stripeIndex: 0,
    stripeCount: 1,
    hostname: "laptop",
    clientVersion: "test",
    cidrs: [],
  });
}

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function echoServer(): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.pipe(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function session(allow: string[] = ["127.0.0.0/8"]) {
  const connection = fakeConnection();
  const allowCidrs = allow.map((t) => parseCidr(t) as Cidr);
  const s = new StreamAgentSession({
    connection,
    allowCidrs,
    clock: new FakeClock(),
    dial: streamDialer({ allowCidrs, resolve: async (name) => (name === "echo.test" ? ["127.0.0.1"] : Promise.reject(Object.assign(new Error("no"), { code: "ENOTFOUND" }))) }),
  });
  s.start();
  const send = (frame: StreamFrame) => s.receive(encodeFrame(frame));
  const streamFrames = () => connection.frames.filter((f): f is StreamFrame => "streamId" in f);
  return { s, connection, send, streamFrames };
}

describe("StreamAgentSession (agent --mode socks)", () => {
  test("HELLO offers the streams capability and no tunnel addresses", () => {
    const { connection } = session();
    expect(connection.frames[0]).toMatchObject({ type: "hello", capabilities: CAPABILITY_STREAMS | CAPABILITY_IN_FLIGHT_BOUND, clientAddress: "0.0.0.0" });
  });

  test("a TUN client (no streams capability) is refused with a CLOSE that says what to run", async () => {
    const { s, connection } = session();
    s.receive(ack(0));
    expect(connection.frames.at(-1)).toMatchObject({ type: "close", reason: CloseReason.NotAllowed, text: expect.stringContaining("credproxy tunnel socks") });
    expect((await s.ended).reason).toContain("socks mode");
  });

  test("OPEN by name dials TCP here and bytes round-trip with credit; the end passes through", async () => {
    const port = await echoServer();
    const { s, send, streamFrames } = session();
    s.receive(ack(CAPABILITY_STREAMS));
    send({ type: "open", streamId: 1, address: { kind: "name", host: "echo.test" }, port, window: 65536 });
    await waitFor(() => streamFrames().some((f) => f.type === "open_ok"), { timeoutMs: 5000 });
    send({ type: "data", streamId: 1, bytes: new TextEncoder().encode("ping over a stream") });
    send({ type: "stream_close", streamId: 1, kind: "end" });
    await waitFor(() => streamFrames().some((f) => f.type === "stream_close"), { timeoutMs: 5000 });
    const echoed = streamFrames().flatMap((f) => (f.type === "data" ? [...f.bytes] : []));
    expect(new TextDecoder().decode(Uint8Array.from(echoed))).toBe("ping over a stream");
    expect(s.stats().streams).toMatchObject({ opened: 1 });
    await s.close();
  });

  test("OPEN_FAIL says why: outside --allow-cidr, no such host, refused", async () => {
    const closedPort = await echoServer();
    servers.pop()!.close();
    const { s, send, streamFrames } = session();
    s.receive(ack(CAPABILITY_STREAMS));
    send({ type: "open", streamId: 1, address: { kind: "ipv4", host: "10.255.0.1" }, port: 22, window: 65536 });
    send({ type: "open", streamId: 3, address: { kind: "name", host: "nothing.invalid" }, port: 22, window: 65536 });
    send({ type: "open", streamId: 5, address: { kind: "ipv4", host: "127.0.0.1" }, port: closedPort, window: 65536 });
    await waitFor(() => streamFrames().filter((f) => f.type === "open_fail").length === 3, { timeoutMs: 5000 });
    const fails = new Map(streamFrames().flatMap((f) => (f.type === "open_fail" ? [[f.streamId, f] as const] : [])));
    expect(fails.get(1)).toMatchObject({ reason: OpenFailReason.NotAllowed, text: "10.255.0.1 is not allowed: the agent allows 127.0.0.0/8" });
    expect(fails.get(3)).toMatchObject({ reason: OpenFailReason.NoSuchHost });
    expect(fails.get(5)).toMatchObject({ reason: OpenFailReason.Refused, text: expect.stringContaining("connection refused") });
    await s.close();
  });

  test("a stream frame that breaks the rules ends the session with a protocol-error CLOSE", async () => {
    const { s, send, connection } = session();
    s.receive(ack(CAPABILITY_STREAMS));
    send({ type: "data", streamId: 7, bytes: Uint8Array.of(1) });
    expect(connection.frames.at(-1)).toMatchObject({ type: "close", reason: CloseReason.ProtocolError, text: expect.stringContaining("never opened") });
    await s.ended;
  });

  describe("pacing DATA by the client's RX_REPORTs (the in-flight bound)", () => {
    /** A session whose dialler accepts every stream and hands it to the test. */
    function pacedSession(capabilities = CAPABILITY_STREAMS | CAPABILITY_IN_FLIGHT_BOUND) {
      const connection = fakeConnection();
      const clock = new FakeClock();
      const streams: MuxStream[] = [];
      const s = new StreamAgentSession({
        connection,
        clock,
        inFlightBound: { floorBytes: 24 * 1024 },
        dial: (stream) => {
          streams.push(stream);
          stream.accept();
        },
      });
      s.start();
      s.receive(ack(capabilities));
      for (const id of [1, 3]) s.receive(encodeFrame({ type: "open", streamId: id, address: { kind: "ipv4", host: "127.0.0.1" }, port: 9, window: 256 * 1024 }));
      const dataBytes = (id: number) => connection.frames.reduce((n, f) => n + (f.type === "data" && f.streamId === id ? f.bytes.length : 0), 0);
      // The client reports every byte it got, from HELLO on.
      const report = () => s.receive(encodeRxReport(connection.state.bytes));
      return { s, connection, streams: streams as [MuxStream, MuxStream], dataBytes, report };
    }

    test("bulk DATA stops at the target until a report frees room, a small reply goes past it, and control frames are not held", async () => {
      const { s, connection, streams, dataBytes, report } = pacedSession();
      const [bulk, chat] = streams;
      report();
      bulk.write(new Uint8Array(200 * 1024));
      // Before a rate is known the target is the floor: one 16 KiB frame, not the 256 KiB window.
      expect(dataBytes(1)).toBe(16 * 1024);
      expect(s.stats().inFlightBound).toMatchObject({ limitBytes: 24 * 1024, drops: 0 });
      const before = connection.frames.length;
      chat.write(new TextEncoder().encode("pong"));
      s.receive(encodePing(7, 1));
      expect(connection.frames.slice(before).map((f) => f.type)).toEqual(["data", "pong"]);
      expect(dataBytes(3)).toBe(4);
      expect(dataBytes(1)).toBe(16 * 1024);
      report();
      expect(dataBytes(1)).toBe(32 * 1024);
      expect(bulk.queuedBytes).toBe(200 * 1024 - 32 * 1024);
      await s.close();
    });

    test("a client without the bound gets today's behaviour: the whole window goes at once", async () => {
      const { s, streams, dataBytes } = pacedSession(CAPABILITY_STREAMS);
      streams[0].write(new Uint8Array(200 * 1024));
      expect(dataBytes(1)).toBe(200 * 1024);
      expect(s.stats().inFlightBound).toBeUndefined();
      await s.close();
    });
  });
});
