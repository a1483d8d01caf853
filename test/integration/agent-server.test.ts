/**
 * The agent's listener over real loopback TCP (with fake TUN devices, so no root is needed):
 * Bun's unbuffered socket.write plus the small SO_SNDBUF really push back, so toward an SSM
 * agent that stops reading the agent drops PACKETs instead of queueing them, and what it kept
 * arrives whole and in order once the reader goes on; several clients at once each get their own
 * address pair; close() sends every client a CLOSE.
 */
import { CLIENT_HELLO_ACK as ACK } from "../../src/agent/_client-hello-ack.ts";
import { afterEach, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { createAddressPool } from "../../src/agent/address-pool.ts";
import { startAgentServer, type AgentServer } from "../../src/agent/agent-server.ts";
import { FakeTun } from "../../src/tunnel/_fake-tun.ts";
import { CloseReason, FrameDecoder, type Frame } from "../../src/tunnel/framing.ts";
import { udpPacket } from "../helpers/ip-packets.ts";
import { waitFor } from "../helpers/wait.ts";


/** The SSM agent's side: a TCP connection whose reading the test can stop, decoding frames. */
class SsmAgentEnd {
  readonly frames: Frame[] = [];
  bytes = 0;
  ended = false;
  private readonly decoder = new FrameDecoder({ from: "agent" });
  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.bytes += chunk.length;
      this.frames.push(...this.decoder.push(chunk));
    });
    socket.on("end", () => (this.ended = true));
  }
  static async dial(port: number): Promise<SsmAgentEnd> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return new SsmAgentEnd(socket);
  }
  of<T extends Frame["type"]>(type: T): Extract<Frame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<Frame, { type: T }> => f.type === type);
  }
}

let server: AgentServer | undefined;
const tuns: FakeTun[] = [];
const ends: SsmAgentEnd[] = [];
afterEach(async () => {
  for (const end of ends.splice(0)) end.socket.destroy();
  await server?.close();
  server = undefined;
  tuns.length = 0;
});

function start(): AgentServer {
  server = startAgentServer({
    host: "127.0.0.1",
    port: 0,
    pool: createAddressPool("100.64.0.0/24"),
    openTun: async (options) => {
      const tun = new FakeTun(`cpa${tuns.length}`, options);
      tuns.push(tun);
      return tun;
    },
  });
  return server;
}

async function client(port: number): Promise<SsmAgentEnd> {
  const end = await SsmAgentEnd.dial(port);
  ends.push(end);
  await waitFor(() => end.of("hello").length === 1, { timeoutMs: 5000, what: "HELLO" });
  end.socket.write(ACK);
  return end;
}

describe("the agent's listener on real TCP", () => {
  test("toward an SSM agent that stops reading, PACKETs past the backlog bound are dropped; what was kept arrives whole and in order", async () => {
    const { port } = start();
    const end = await client(port);
    await waitFor(() => server!.sessions()[0]?.state === "up", { timeoutMs: 5000, what: "the session to come up" });
    end.socket.pause();
    // 4 MB for the client, far more than the send buffer, the reader's receive buffer and the backlog bound hold.
    for (let i = 0; i < 4000; i++) {
      const data = new Uint8Array(1000);
      new DataView(data.buffer).setUint32(0, i);
      tuns[0]!.read(udpPacket({ address: "10.99.0.2", port: 7002 }, { address: "100.64.0.3", port: 40000 }, data));
    }
    const stats = server!.sessions()[0]!;
    console.log(`backlog: ${stats.packetsToClient} kept, ${stats.drops.backlog} dropped, peak ${stats.writer.peakBacklogBytes} bytes waiting`);
    expect(stats.drops.backlog).toBeGreaterThan(3000);
    expect(stats.writer.peakBacklogBytes).toBeLessThan(64 * 1024 + 1100);
    end.socket.resume();
    await waitFor(() => end.of("packet").length === stats.packetsToClient, { timeoutMs: 10_000, what: "every kept PACKET" });
    const numbers = end.of("packet").map((p) => new DataView(p.packet.buffer, p.packet.byteOffset + 28).getUint32(0));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(numbers[0]).toBe(0);
  });

  test("two clients at once get their own address pair and TUN; close() sends each a CLOSE and ends the connections", async () => {
    const { port } = start();
    const [a, b] = [await client(port), await client(port)];
    await waitFor(() => tuns.length === 2 && server!.sessions().every((s) => s.state === "up"), { timeoutMs: 5000, what: "both sessions up" });
    expect(tuns.map((t) => [t.options.address, t.options.peer])).toEqual([
      ["100.64.0.2", "100.64.0.3"],
      ["100.64.0.4", "100.64.0.5"],
    ]);
    await server!.close();
    await waitFor(() => a.ended && b.ended, { timeoutMs: 5000, what: "both connections ended" });
    for (const end of [a, b]) expect(end.of("close")).toEqual([{ type: "close", reason: CloseReason.Normal, text: "the agent is shutting down" }]);
    expect(tuns.every((t) => t.closed)).toBe(true);
    server = undefined;
  });

  test("a port in use is a listen error that says what to do", () => {
    const { port } = start();
    expect(() => startAgentServer({ host: "127.0.0.1", port, pool: createAddressPool("100.64.0.0/24"), openTun: () => Promise.reject(new Error("unused")) })).toThrow(
      `agent: cannot listen on 127.0.0.1:${port}: the port is in use`,
    );
  });
});
