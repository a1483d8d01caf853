import { describe, expect, test } from "bun:test";
import { encodeFrame, encodeHello, FrameDecoder, type Frame, type HelloFields } from "./framing.ts";

const hello: HelloFields = {
  version: { major: 1, minor: 2 },
  capabilities: 0x5,
  mtu: 1400,
  clientAddress: "100.64.0.3",
  agentAddress: "100.64.0.2",
  sessionNonce: new Uint8Array(16).fill(9),
  agentVersion: "0.9.0",
  ipv6: { clientAddress6: "fd63:7078:1::3", agentAddress6: "fd63:7078:1::2" },
};

function fromAgent(ours?: { major: number; minor: number }) {
  return new FrameDecoder({ from: "agent", ...(ours ? { ours } : {}) });
}

describe("the IPv6 fields of protocol 1.2", () => {
  test("HELLO carries an IPv6 pair and STRIPE_JOINED the client's pair", () => {
    const joined: Frame = { type: "stripe_joined", clientAddress: "100.64.0.3", agentAddress: "100.64.0.2", ipv6: { clientAddress6: "fd63:7078:1::3", agentAddress6: "fd63:7078:1::2" } };
    expect(fromAgent().push(Buffer.concat([encodeHello(hello), encodeFrame(joined)]))).toEqual([{ type: "hello", ...hello }, joined]);
  });

  test("HELLO says why an agent cannot forward IPv6", () => {
    const without = { ...hello, capabilities: 0x1, ipv6: { unavailable: "the instance has no IPv6 default route" } };
    expect(fromAgent().push(encodeHello(without))).toEqual([{ type: "hello", ...without }]);
  });

  test("a 1.1 HELLO and STRIPE_JOINED have no IPv6 fields", () => {
    const old = { ...hello, version: { major: 1, minor: 1 }, ipv6: undefined };
    const joined: Frame = { type: "stripe_joined", clientAddress: "100.64.0.3", agentAddress: "100.64.0.2" };
    const { ipv6: _, ...plain } = old;
    expect(fromAgent().push(Buffer.concat([encodeHello(old), encodeFrame(joined)]))).toEqual([{ type: "hello", ...plain }, joined]);
  });

  test("a 1.1 reader skips the IPv6 fields of a 1.2 agent", () => {
    const [frame] = fromAgent({ major: 1, minor: 1 }).push(encodeHello(hello));
    const { ipv6: _, ...plain } = hello;
    expect(frame).toEqual({ type: "hello", ...plain });
  });

  test("an unknown offer kind is a framing error", () => {
    const bytes = encodeHello({ ...hello, ipv6: { unavailable: "x" } });
    bytes[bytes.length - 3] = 7; // the kind byte before the 1-byte reason "x" (u8 length + 1)
    expect(() => fromAgent().push(bytes)).toThrow(/IPv6 offer kind 7/);
  });
});
