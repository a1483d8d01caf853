import { describe, expect, test } from "bun:test";
import { FakeChannel } from "../_fake-channel.ts";
import { FakeClock, settle } from "../_fake-tunnel-clock.ts";
import { CAPABILITY_IN_FLIGHT_BOUND, CAPABILITY_STREAMS, CloseReason, encodeFrame, encodeHello, FrameDecoder, type Frame } from "../framing.ts";
import { RX_REPORT_MS } from "../rx-report.ts";
import type { StreamEnd } from "./mux-stream.ts";
import { startStreamTunnel } from "./stream-tunnel.ts";

function hello(capabilities: number): Uint8Array {
  return encodeHello({
    version: { major: 1, minor: 1 },
    capabilities,
    mtu: 1400,
    clientAddress: "0.0.0.0",
    agentAddress: "0.0.0.0",
    sessionNonce: new Uint8Array(16),
    agentVersion: "9.9.9",
  });
}

/** What the client wrote on a channel, decoded as the agent reads it. */
function written(channel: FakeChannel): Frame[] {
  const decoder = new FrameDecoder({ from: "client" });
  return channel.written.flatMap((bytes) => decoder.push(bytes));
}

function setup() {
  const clock = new FakeClock();
  const channels: FakeChannel[] = [];
  const tunnel = startStreamTunnel({
    clock,
    hostname: "laptop",
    openChannel: () => {
      const channel = new FakeChannel(`s-${channels.length}`);
      channels.push(channel);
      return channel;
    },
  });
  return { clock, channels, tunnel };
}

const target = { address: { kind: "name", host: "db.internal" } as const, port: 5432 };

describe("startStreamTunnel (tunnel socks sessions)", () => {
  test("accepts the streams capability, then opens streams over the session", async () => {
    const { channels, tunnel } = setup();
    expect(tunnel.open(target)).toBeUndefined();
    channels[0]!.handshake();
    channels[0]!.deliver(hello(CAPABILITY_STREAMS));
    expect(await tunnel.ready).toEqual({ sessionId: "s-0", agentVersion: "9.9.9" });
    const stream = tunnel.open(target);
    expect(stream).toBeDefined();
    const frames = written(channels[0]!);
    expect(frames[0]).toMatchObject({ type: "hello_ack", capabilities: CAPABILITY_STREAMS, hostname: "laptop", cidrs: [] });
    expect(frames[1]).toMatchObject({ type: "open", streamId: 1, address: { kind: "name", host: "db.internal" }, port: 5432 });
    channels[0]!.deliver(encodeFrame({ type: "open_ok", streamId: 1, window: 65536 }));
    expect(await stream!.opened).toEqual({ ok: true });
    expect(tunnel.status()).toMatchObject({ state: "up", mode: "socks", streams: 1, streamsOpened: 1 });
    await tunnel.close();
  });

  test("an agent without the streams capability ends the tunnel with what to run on the instance", async () => {
    const { channels, tunnel } = setup();
    channels[0]!.handshake();
    channels[0]!.deliver(hello(0));
    await expect(tunnel.ready).rejects.toThrow("does not offer streams");
    const end = await tunnel.closed;
    expect(end.error?.hint).toContain("credproxy agent --mode socks");
    expect(written(channels[0]!).at(-1)).toMatchObject({ type: "close", reason: CloseReason.NotAllowed });
  });

  test("a session that ends takes its streams with it, and a new session starts after the backoff", async () => {
    const { clock, channels, tunnel } = setup();
    channels[0]!.handshake();
    channels[0]!.deliver(hello(CAPABILITY_STREAMS));
    await tunnel.ready;
    const stream = tunnel.open(target)!;
    let ended: StreamEnd | undefined;
    stream.onClosed((end) => void (ended = end));
    channels[0]!.end("channel_closed");
    await settle();
    expect(ended).toMatchObject({ kind: "session" });
    expect(tunnel.open(target)).toBeUndefined();
    await clock.advance(1000);
    expect(channels).toHaveLength(2);
    channels[1]!.handshake();
    channels[1]!.deliver(hello(CAPABILITY_STREAMS));
    expect(tunnel.open(target)?.id).toBe(1);
    expect(tunnel.status()).toMatchObject({ state: "up", sessions: 2, streamsOpened: 2 });
    await tunnel.close();
  });

  test("a protocol error from the agent ends the session with a CLOSE that says why", async () => {
    const { channels, tunnel } = setup();
    channels[0]!.handshake();
    channels[0]!.deliver(hello(CAPABILITY_STREAMS));
    await tunnel.ready;
    channels[0]!.deliver(encodeFrame({ type: "data", streamId: 9, bytes: Uint8Array.of(1) }));
    expect(written(channels[0]!).at(-1)).toMatchObject({ type: "close", reason: CloseReason.ProtocolError, text: "DATA for stream 9, which was never opened" });
    await tunnel.close();
  });

  test("with an agent that offers the in-flight bound, RX_REPORT counts every byte received: at 16 KiB at once, else after 10 ms", async () => {
    const { clock, channels, tunnel } = setup();
    const channel = channels[0]!;
    channel.handshake();
    const helloFrame = hello(CAPABILITY_STREAMS | CAPABILITY_IN_FLIGHT_BOUND);
    channel.deliver(helloFrame);
    await tunnel.ready;
    const stream = tunnel.open(target)!;
    const reports = () => written(channel).flatMap((f) => (f.type === "rx_report" ? [f.receivedBytes] : []));
    expect(written(channel)[0]).toMatchObject({ type: "hello_ack", capabilities: CAPABILITY_STREAMS | CAPABILITY_IN_FLIGHT_BOUND });
    const okFrame = encodeFrame({ type: "open_ok", streamId: stream.id, window: 65536 });
    channel.deliver(okFrame);
    expect(reports()).toEqual([]);
    await clock.advance(RX_REPORT_MS);
    let total = helloFrame.length + okFrame.length;
    expect(reports()).toEqual([total]);
    const big = encodeFrame({ type: "data", streamId: stream.id, bytes: new Uint8Array(16 * 1024) });
    channel.deliver(big);
    total += big.length;
    expect(reports()).toEqual([helloFrame.length + okFrame.length, total]);
    // A report the channel refuses goes once it is writable again.
    channel.refuse = true;
    channel.deliver(big);
    total += big.length;
    channel.writable();
    expect(reports().at(-1)).toBe(total);
    await tunnel.close();
  });

  test("with an agent without the bound, no RX_REPORT goes up", async () => {
    const { clock, channels, tunnel } = setup();
    channels[0]!.handshake();
    channels[0]!.deliver(hello(CAPABILITY_STREAMS));
    await tunnel.ready;
    tunnel.open(target);
    channels[0]!.deliver(encodeFrame({ type: "open_ok", streamId: 1, window: 65536 }));
    await clock.advance(RX_REPORT_MS * 2);
    expect(written(channels[0]!).some((f) => f.type === "rx_report")).toBe(false);
    await tunnel.close();
  });
});
