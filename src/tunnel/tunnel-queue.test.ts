import { describe, expect, test } from "bun:test";
import { BacklogWriter } from "../agent/backlog-writer.ts";
import { CredproxyError } from "../errors.ts";
import { ChannelSender } from "../ssm/channel-sender.ts";
import { TUNNEL_QUEUE_ENV, tunnelQueueBounds } from "./tunnel-queue.ts";

const unbounded = () => tunnelQueueBounds({ [TUNNEL_QUEUE_ENV]: "unbounded" });

describe("the tunnel's queue bounds", () => {
  test("unset, the drop-tail bounds of ssm-tunnel.md §9 hold: 64 KiB in flight, 64 KiB backlog, a 16 KiB send buffer, and the agent's in-flight bound", () => {
    expect(tunnelQueueBounds({})).toMatchObject({ mode: "bounded", clientInFlightBytes: 65536, agentBacklogBytes: 65536, agentSendBufferBytes: 16384, agentInFlightBound: true });
    expect(tunnelQueueBounds({ [TUNNEL_QUEUE_ENV]: "bounded" }).mode).toBe("bounded");
  });

  test("the benchmark switch lifts every bound (the in-flight bound too) and leaves the kernel's send buffer alone", () => {
    expect(unbounded()).toEqual({ mode: "unbounded", clientInFlightBytes: Infinity, agentBacklogBytes: Infinity, agentStuckBytes: Infinity, agentSendBufferBytes: undefined, agentInFlightBound: false });
  });

  test("any other value is refused with the values it takes", () => {
    const error = (() => {
      try {
        tunnelQueueBounds({ [TUNNEL_QUEUE_ENV]: "huge" });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(CredproxyError);
    expect((error as CredproxyError).message).toContain("CREDPROXY_TUNNEL_QUEUE=huge");
    expect((error as CredproxyError).hint).toContain('"unbounded"');
  });

  test("unbounded, the agent's backlog keeps every packet however far the SSM agent is behind, and never calls it stuck", () => {
    const q = unbounded();
    const writer = new BacklogWriter({ write: () => 0 }, { maxBacklogBytes: q.agentBacklogBytes, stuckBytes: q.agentStuckBytes });
    for (let i = 0; i < 4096; i++) expect(writer.writePacket(new Uint8Array(1024))).toBe(true);
    expect(writer.backlogBytes).toBe(4096 * 1024);
    expect(writer.stats().packetsDropped).toBe(0);
    expect(writer.stuck).toBe(false);
  });

  test("unbounded, the client's channel takes every write while nothing is acked", () => {
    const sender = new ChannelSender({ maxInFlightBytes: unbounded().clientInFlightBytes, now: () => 0, send: () => undefined, bufferedAmount: () => 8 << 20 });
    sender.socketUp();
    sender.handshakeComplete();
    for (let i = 0; i < 2048; i++) expect(sender.write(new Uint8Array(1400))).toBe(true);
    expect(sender.stats().unackedBytes).toBeGreaterThan(2048 * 1400);
    sender.stop();
  });
});
