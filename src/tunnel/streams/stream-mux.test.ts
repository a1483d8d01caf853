import { describe, expect, test } from "bun:test";
import { FramingError } from "../framing-error.ts";
import type { MuxStream, StreamEnd } from "./mux-stream.ts";
import { decodeStreamBody, MAX_DATA_BYTES, OpenFailReason, type StreamFrame } from "./stream-frames.ts";
import { StreamMux, type MuxSink, type StreamMuxOptions } from "./stream-mux.ts";

/** A sink that takes frames while it has budget, like the data channel's in-flight bound. */
class FakeSink implements MuxSink {
  readonly sent: StreamFrame[] = [];
  budget = Infinity;
  write(frame: Uint8Array): boolean {
    if (this.budget <= 0) return false;
    this.budget--;
    this.sent.push(decodeStreamBody(frame[2]!, frame.subarray(3)));
    return true;
  }
  take(): StreamFrame[] {
    return this.sent.splice(0);
  }
}

interface Pair {
  readonly client: StreamMux;
  readonly agent: StreamMux;
  readonly up: FakeSink;
  readonly down: FakeSink;
  readonly accepted: MuxStream[];
  /** Delivers every frame sent so far, both ways, until both are quiet. */
  flush(): void;
}

function pair(agentOptions: Partial<StreamMuxOptions> = {}, clientOptions: Partial<StreamMuxOptions> = {}): Pair {
  const up = new FakeSink();
  const down = new FakeSink();
  const accepted: MuxStream[] = [];
  const client = new StreamMux({ sink: up, role: "client", ...clientOptions });
  const agent = new StreamMux({
    sink: down,
    role: "agent",
    onOpen: (stream) => {
      accepted.push(stream);
      stream.accept();
    },
    ...agentOptions,
  });
  const flush = () => {
    while (up.sent.length + down.sent.length > 0) {
      for (const frame of up.take()) agent.receive(frame);
      for (const frame of down.take()) client.receive(frame);
    }
  };
  return { client, agent, up, down, accepted, flush };
}

const target = { address: { kind: "name", host: "db.internal" } as const, port: 5432 };

function collect(stream: MuxStream, consume = true): { bytes: number[]; ended: boolean; closed: StreamEnd | undefined } {
  const seen = { bytes: [] as number[], ended: false, closed: undefined as StreamEnd | undefined };
  stream.onData((bytes) => {
    seen.bytes.push(...bytes);
    if (consume) stream.consumed(bytes.length);
  });
  stream.onEnd(() => void (seen.ended = true));
  stream.onClosed((end) => void (seen.closed = end));
  return seen;
}

describe("StreamMux", () => {
  test("a stream opens, carries bytes both ways, half-closes each way and ends as done", async () => {
    const p = pair();
    const stream = p.client.open(target);
    const atClient = collect(stream);
    p.flush();
    expect(await stream.opened).toEqual({ ok: true });
    const far = p.accepted[0]!;
    const atAgent = collect(far);
    stream.write(new TextEncoder().encode("SELECT 1;"));
    stream.end();
    p.flush();
    expect(new TextDecoder().decode(Uint8Array.from(atAgent.bytes))).toBe("SELECT 1;");
    expect(atAgent.ended).toBe(true);
    far.write(Uint8Array.of(1, 2, 3));
    far.end();
    p.flush();
    expect(atClient.bytes).toEqual([1, 2, 3]);
    expect(atClient.closed).toEqual({ kind: "done" });
    expect(atAgent.closed).toEqual({ kind: "done" });
    expect(p.client.stats().streams).toBe(0);
    expect(p.agent.stats().streams).toBe(0);
  });

  test("OPEN_FAIL settles opened with the reason and ends the stream", async () => {
    const p = pair({ onOpen: (stream) => stream.fail(OpenFailReason.NotAllowed, "10.9.0.1 is outside --allow-cidr") });
    const stream = p.client.open({ address: { kind: "ipv4", host: "10.9.0.1" }, port: 22 });
    const seen = collect(stream);
    p.flush();
    expect(await stream.opened).toEqual({ ok: false, reason: OpenFailReason.NotAllowed, text: "10.9.0.1 is outside --allow-cidr" });
    expect(seen.closed?.kind).toBe("failed");
    expect(p.client.stats().streams).toBe(0);
  });

  test("a sender never sends more than the receiver granted, and goes on as credit comes back", () => {
    const p = pair({ window: 32 * 1024 });
    const stream = p.client.open(target);
    p.flush();
    const far = p.accepted[0]!;
    const received: Uint8Array[] = [];
    far.onData((bytes) => void received.push(bytes));
    stream.write(new Uint8Array(200 * 1024));
    p.flush();
    const total = () => received.reduce((n, b) => n + b.length, 0);
    expect(total()).toBe(32 * 1024);
    expect(stream.credit).toBe(0);
    // A quarter of the window consumed sends one CREDIT of that size; the sender uses exactly it.
    far.consumed(8 * 1024);
    const credit = p.down.sent.find((f) => f.type === "credit");
    expect(credit).toEqual({ type: "credit", streamId: 1, bytes: 8 * 1024 });
    p.flush();
    expect(total()).toBe(40 * 1024);
    expect(stream.queuedBytes).toBe(200 * 1024 - 40 * 1024);
  });

  test("DATA frames are at most 16 KiB", () => {
    const p = pair();
    const stream = p.client.open(target);
    p.flush();
    stream.write(new Uint8Array(100_000));
    const sizes = p.up.take().flatMap((f) => (f.type === "data" ? [f.bytes.length] : []));
    expect(Math.max(...sizes)).toBe(MAX_DATA_BYTES);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(100_000);
  });

  test("an interactive stream's frame goes out behind at most one frame of a bulk stream with MBs queued", () => {
    const p = pair({ window: 16 * 1024 * 1024 });
    const bulk = p.client.open(target);
    const interactive = p.client.open(target);
    p.flush();
    // The sink is the bottleneck: it takes one frame per tick, as the paced SSM channel does.
    p.up.budget = 0;
    for (let i = 0; i < 64; i++) bulk.write(new Uint8Array(64 * 1024).fill(0xbb));
    expect(bulk.queuedBytes).toBe(4 * 1024 * 1024);
    const tick = () => {
      p.up.budget = 1;
      p.client.writable();
      return p.up.take();
    };
    for (let i = 0; i < 10; i++) expect(tick()[0]).toMatchObject({ type: "data", streamId: bulk.id });
    interactive.write(Uint8Array.of(0x0d));
    const next = [...tick(), ...tick()];
    expect(next.map((f) => f.streamId)).toContain(interactive.id);
    // And turn by turn after that: the bulk stream still gets every other frame.
    interactive.write(Uint8Array.of(0x0d));
    expect([...tick(), ...tick()].map((f) => f.streamId).sort()).toEqual([bulk.id, interactive.id].sort());
    expect(bulk.queuedBytes).toBeGreaterThan(3 * 1024 * 1024);
  });

  test("a refused write keeps the frame and the order; writable() resumes", () => {
    const p = pair();
    const stream = p.client.open(target);
    p.flush();
    const far = p.accepted[0]!;
    const seen = collect(far);
    p.up.budget = 2;
    stream.write(new Uint8Array(50_000).map((_, i) => i % 251));
    expect(p.up.sent).toHaveLength(2);
    p.up.budget = Infinity;
    p.client.writable();
    p.flush();
    expect(seen.bytes).toEqual(Array.from({ length: 50_000 }, (_, i) => i % 251));
  });

  test("write() asks the source to pause above the high-water mark and onDrain says when to go on", () => {
    const p = pair();
    const stream = p.client.open(target);
    let drained = 0;
    stream.onDrain(() => void drained++);
    expect(stream.write(new Uint8Array(100 * 1024))).toBe(false);
    p.flush();
    collect(p.accepted[0]!);
    p.flush();
    expect(drained).toBe(1);
  });

  test("a reset reaches the peer; DATA already in flight for it is ignored", () => {
    const p = pair();
    const stream = p.client.open(target);
    const atClient = collect(stream);
    p.flush();
    const far = p.accepted[0]!;
    const atAgent = collect(far);
    far.write(Uint8Array.of(9, 9));
    stream.reset();
    expect(atClient.closed).toEqual({ kind: "reset", by: "us" });
    p.flush();
    expect(atClient.bytes).toEqual([]);
    expect(atAgent.closed).toEqual({ kind: "reset", by: "peer" });
  });

  test("past maxStreams the agent answers OPEN_FAIL and keeps the session", async () => {
    const p = pair({ maxStreams: 1 });
    p.client.open(target);
    const second = p.client.open(target);
    p.flush();
    expect(await second.opened).toMatchObject({ ok: false, reason: OpenFailReason.TooManyStreams });
  });

  test("the session's end ends every stream", async () => {
    const p = pair();
    const stream = p.client.open(target);
    const seen = collect(stream);
    p.client.endAll("channel_closed");
    expect(seen.closed).toEqual({ kind: "session", why: "channel_closed" });
    expect((await stream.opened).ok).toBe(false);
  });

  describe("a peer that breaks the rules is a FramingError", () => {
    function opened(): Pair & { stream: MuxStream } {
      const p = pair({ window: 16 * 1024 });
      const stream = p.client.open(target);
      p.flush();
      return { ...p, stream };
    }
    const cases: [string, (p: Pair & { stream: MuxStream }) => void, RegExp][] = [
      ["DATA over the window", (p) => p.agent.receive({ type: "data", streamId: 1, bytes: new Uint8Array(16 * 1024 + 1) }), /over the window/],
      ["DATA after a stream's end", (p) => {
        p.client.receive({ type: "stream_close", streamId: 1, kind: "end" });
        p.client.receive({ type: "data", streamId: 1, bytes: Uint8Array.of(1) });
      }, /after the peer's end/],
      ["a second end", (p) => {
        p.client.receive({ type: "stream_close", streamId: 1, kind: "end" });
        p.client.receive({ type: "stream_close", streamId: 1, kind: "end" });
      }, /second end/],
      ["credit past 16 MiB", (p) => {
        for (let i = 0; i < 2; i++) p.client.receive({ type: "credit", streamId: 1, bytes: 16 * 1024 * 1024 });
      }, /over 16777216/],
      ["DATA for a stream never opened", (p) => p.agent.receive({ type: "data", streamId: 41, bytes: Uint8Array.of(1) }), /never opened/],
      ["CREDIT for a stream never opened", (p) => p.client.receive({ type: "credit", streamId: 5, bytes: 1 }), /never opened/],
      ["an even stream id", (p) => p.agent.receive({ type: "open", streamId: 4, address: target.address, port: 1, window: 1 }), /odd and increasing/],
      ["a stream id used again", (p) => p.agent.receive({ type: "open", streamId: 1, address: target.address, port: 1, window: 1 }), /odd and increasing/],
      ["OPEN from the agent", (p) => p.client.receive({ type: "open", streamId: 3, address: target.address, port: 1, window: 1 }), /only the client opens/],
      ["OPEN_OK twice", (p) => p.client.receive({ type: "open_ok", streamId: 1, window: 1 }), /which is open/],
      ["DATA before OPEN_OK", (p) => {
        const early = p.client.open(target);
        p.client.receive({ type: "data", streamId: early.id, bytes: Uint8Array.of(1) });
      }, /which is opening/],
    ];
    for (const [name, act, message] of cases) {
      test(name, () => {
        const p = opened();
        let error: unknown;
        try {
          act(p);
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(FramingError);
        expect((error as Error).message).toMatch(message);
      });
    }
  });
});

describe("StreamMux pacing (the agent's in-flight bound, socks mode)", () => {
  /** A pacer with a byte budget, as the bound's target less the bytes in flight. */
  function paced() {
    const pacer = { room: 40 * 1024 };
    const p = pair({
      pace: (bytes) => {
        if (bytes > pacer.room && bytes > 128) return false;
        pacer.room -= bytes;
        return true;
      },
    });
    const bulk = p.client.open(target);
    const chat = p.client.open(target);
    p.flush();
    const [farBulk, farChat] = p.accepted as [MuxStream, MuxStream];
    return { p, pacer, bulk: collect(bulk), chat: collect(chat), farBulk, farChat };
  }

  test("DATA past the pacer's room is held, and goes on when room frees and writable() is called", () => {
    const { p, pacer, bulk, farBulk } = paced();
    farBulk.write(new Uint8Array(200 * 1024));
    const data = () => p.down.sent.filter((f) => f.type === "data");
    // Two 16 KiB frames fit the 40 KiB; the third waits.
    expect(data().length).toBe(2);
    farBulk.write(new Uint8Array(1024));
    expect(data().length).toBe(2);
    pacer.room += 32 * 1024;
    p.agent.writable();
    expect(data().length).toBe(4);
    p.flush();
    expect(bulk.bytes.length).toBe(64 * 1024);
  });

  test("a small frame of another stream goes past the held bulk stream, and the bulk stream keeps its turn", () => {
    const { p, pacer, farBulk, farChat, chat } = paced();
    farBulk.write(new Uint8Array(200 * 1024));
    p.down.take();
    farChat.write(new TextEncoder().encode("pong"));
    expect(p.down.take()).toEqual([{ type: "data", streamId: 3, bytes: new TextEncoder().encode("pong") }]);
    p.client.receive({ type: "data", streamId: 3, bytes: new TextEncoder().encode("pong") });
    expect(chat.bytes.length).toBe(4);
    // Room for one frame: the bulk stream's, first in turn.
    pacer.room = 16 * 1024 + 7;
    p.agent.writable();
    expect(p.down.take().map((f) => f.streamId)).toEqual([1]);
  });

  test("control frames (OPEN_OK, CREDIT, resets, ends) are never held", () => {
    const { p, pacer, farBulk, farChat } = paced();
    farBulk.write(new Uint8Array(200 * 1024));
    pacer.room = 0;
    p.down.take();
    farChat.end();
    p.agent.receive({ type: "data", streamId: 1, bytes: new Uint8Array(64 * 1024) });
    farBulk.consumed(64 * 1024);
    p.agent.receive({ type: "open", streamId: 5, address: target.address, port: 1, window: 65536 });
    expect(p.down.take().map((f) => f.type)).toEqual(["stream_close", "credit", "open_ok"]);
  });
});
