/** Test support: the HELLO_ACK a credproxy tunnel client sends, as agent tests play the client. */
import { encodeHelloAck } from "../tunnel/framing.ts";

/** A HELLO_ACK accepting `capabilities` (a 1.0 client accepts none). */
export function clientHelloAck(capabilities = 0, minor = 0): Uint8Array {
  return encodeHelloAck({
    version: { major: 1, minor },
    capabilities,
    clientId: new Uint8Array(16),
    stripeIndex: 0,
    stripeCount: 1,
    hostname: "laptop.test",
    clientVersion: "test-client",
    cidrs: ["10.99.0.0/24"],
  });
}

export const CLIENT_HELLO_ACK = clientHelloAck();
