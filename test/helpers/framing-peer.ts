/**
 * A stand-in for `credproxy agent` in tests of `credproxy tunnel`, until the real agent is
 * used: a TCP server (the fake SSM agent's --target) that speaks the tunnel framing from
 * src/tunnel/framing. On every connection it sends HELLO (address pair, MTU), expects HELLO_ACK,
 * answers PING with PONG, answers ICMP echo requests to any address with echo replies (so a
 * ping through the tunnel proves the path both ways), and counts and drops every other PACKET.
 */
import { createServer, type Server, type Socket } from "node:net";
import { encodeHello, encodePacket, encodePong, FrameDecoder, type HelloFields } from "../../src/tunnel/framing.ts";

export interface FramingPeer {
  readonly port: number;
  readonly stats: { connections: number; helloAcks: number; pings: number; packets: number; echoReplies: number };
  close(): Promise<void>;
}

export const PEER_CLIENT_ADDRESS = "100.64.7.2";
export const PEER_AGENT_ADDRESS = "100.64.7.1";

export async function startFramingPeer(options: { host?: string; port?: number; mtu?: number } = {}): Promise<FramingPeer> {
  const stats = { connections: 0, helloAcks: 0, pings: 0, packets: 0, echoReplies: 0 };
  const hello: HelloFields = {
    version: { major: 1, minor: 0 },
    capabilities: 0,
    mtu: options.mtu ?? 1400,
    clientAddress: PEER_CLIENT_ADDRESS,
    agentAddress: PEER_AGENT_ADDRESS,
    sessionNonce: crypto.getRandomValues(new Uint8Array(16)),
    agentVersion: "framing-peer",
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const decoder = new FrameDecoder({ from: "client" });
    socket.write(encodeHello(hello));
    socket.on("data", (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (frame.type === "hello_ack") stats.helloAcks++;
        else if (frame.type === "ping") {
          stats.pings++;
          socket.write(encodePong(frame));
        } else if (frame.type === "packet") {
          stats.packets++;
          const reply = echoReply(frame.packet);
          if (reply !== undefined) {
            stats.echoReplies++;
            socket.write(encodePacket(reply));
          }
        } else if (frame.type === "close") socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve()));
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    stats,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The ICMP echo reply to an IPv4 echo request (addresses swapped, type 0), else undefined. */
export function echoReply(packet: Uint8Array): Uint8Array | undefined {
  if (packet.length < 28 || packet[0]! >> 4 !== 4 || packet[9] !== 1) return undefined;
  const ihl = (packet[0]! & 0x0f) * 4;
  if (packet[ihl] !== 8) return undefined;
  const reply = Uint8Array.from(packet);
  reply.set(packet.subarray(16, 20), 12);
  reply.set(packet.subarray(12, 16), 16);
  reply[ihl] = 0;
  reply[ihl + 2] = 0;
  reply[ihl + 3] = 0;
  let sum = 0;
  for (let i = ihl; i < reply.length; i += 2) sum += (reply[i]! << 8) | (reply[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const check = ~sum & 0xffff;
  reply[ihl + 2] = check >> 8;
  reply[ihl + 3] = check & 0xff;
  return reply;
}
