/** Test support: the HELLO_ACK a credproxy tunnel client sends, as agent tests play the client. */
import { encodeHelloAck } from "../tunnel/framing.ts";

export const CLIENT_HELLO_ACK = encodeHelloAck({
  version: { major: 1, minor: 0 },
  capabilities: 0,
  clientId: new Uint8Array(16),
  stripeIndex: 0,
  stripeCount: 1,
  hostname: "laptop.test",
  clientVersion: "test-client",
  cidrs: ["10.99.0.0/24"],
});
