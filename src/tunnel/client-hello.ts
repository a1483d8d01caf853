/**
 * The client's half of the handshake: the agent's HELLO checked and negotiated (ssm-tunnel.md
 * §8), what the session learns from it, and the HELLO_ACK that answers it.
 */
import { hostname } from "node:os";
import { CredproxyError, ErrorCode } from "../errors.ts";
import type { Cidr } from "../net/cidr.ts";
import { VERSION } from "../version.ts";
import { asError } from "./as-error.ts";
import {
  CAPABILITY_IN_FLIGHT_BOUND,
  CAPABILITY_IPV6,
  CAPABILITY_STRIPES,
  encodeHelloAck,
  negotiate,
  NO_CAPABILITIES,
  PROTOCOL_VERSION,
  type HelloFrame,
  type Negotiated,
} from "./framing.ts";
import { helloIpv6 } from "./ipv6-state.ts";
import type { Session } from "./stripe-slot.ts";

/** Negotiates with HELLO and fills in the session from it; an error (that ends the tunnel) when the agent cannot carry it. */
export function acceptHello(session: Session, hello: HelloFrame, mtu: number, striping: boolean): Negotiated | CredproxyError {
  let negotiated;
  try {
    negotiated = negotiate(hello.version, hello.capabilities, "agent", PROTOCOL_VERSION, (striping ? CAPABILITY_STRIPES : NO_CAPABILITIES) | CAPABILITY_IN_FLIGHT_BOUND | CAPABILITY_IPV6);
  } catch (error) {
    return asError(error, "HELLO");
  }
  // An agent in socks mode has no TUN and sends no address pair (stream-agent-session.ts).
  if (hello.clientAddress === "0.0.0.0") {
    return new CredproxyError(ErrorCode.TunnelProtocol, "the agent on the instance runs in socks mode (no TUN): it carries `credproxy tunnel socks` streams, not packets", {
      hint: "use credproxy tunnel socks here, or run the agent on the instance without --mode socks (as root) for tunnel up",
    });
  }
  session.striped = (negotiated.capabilities & CAPABILITY_STRIPES) !== 0;
  session.reports = (negotiated.capabilities & CAPABILITY_IN_FLIGHT_BOUND) !== 0;
  session.mtu = Math.min(mtu, hello.mtu);
  session.agentVersion = hello.agentVersion;
  session.ipv6 = helloIpv6(hello, negotiated.capabilities);
  return negotiated;
}

/** Who we are, for HELLO_ACK: the same for every session of the tunnel. */
export interface ClientIdentity {
  readonly clientId: Uint8Array;
  readonly stripeCount: number;
  readonly hostname: string | undefined;
  readonly cidrs: readonly Cidr[];
}

export function encodeClientHelloAck(session: Session, negotiated: Negotiated, client: ClientIdentity): Uint8Array {
  return encodeHelloAck({
    version: negotiated.version,
    capabilities: negotiated.capabilities,
    clientId: client.clientId,
    stripeIndex: session.striped ? session.slot.index : 0,
    stripeCount: session.striped ? client.stripeCount : 1,
    hostname: (client.hostname ?? hostname()).slice(0, 255),
    clientVersion: VERSION,
    cidrs: client.cidrs.map((c) => c.text),
  });
}
