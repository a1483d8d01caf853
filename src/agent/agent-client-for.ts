/**
 * The client a session carries packets for, once its HELLO_ACK is in: with stripes, the one its
 * client id names (created with this session's pair when it is the first; else this session's
 * pair goes back), without, a client of this session alone.
 */
import type { Logger } from "../log.ts";
import type { HelloAckFrame } from "../tunnel/framing.ts";
import type { AddressLease } from "./address-pool.ts";
import { AgentClient, clientKey } from "./agent-client.ts";
import { AGENT_TUN_NAME, type AgentSessionOptions } from "./agent-session-types.ts";

/** The session's part in it: its pair (given to the client or back to the pool), MTU and logger. */
export interface ClientForSession {
  readonly lease: AddressLease | undefined;
  readonly mtu: number;
  readonly logger: Logger;
}

export function agentClientFor(options: AgentSessionOptions, session: ClientForSession, ack: HelloAckFrame, striped: boolean, ipv6: boolean): AgentClient {
  const registry = options.clients;
  const key = clientKey(ack.clientId);
  const existing = striped ? registry?.get(key) : undefined;
  if (existing !== undefined) {
    session.lease?.release();
    return existing;
  }
  const lease = session.lease!;
  const client = new AgentClient({
    lease,
    openTun: options.openTun,
    tunName: options.tunName ?? AGENT_TUN_NAME,
    mtu: session.mtu,
    allowCidrs: options.allowCidrs,
    ipv6,
    dnsUpstream: options.dnsUpstream,
    ...(options.dnsPort === undefined ? {} : { dnsPort: options.dnsPort }),
    logger: session.logger,
    ...(striped && registry !== undefined ? { onEmpty: () => registry.get(key) === client && registry.delete(key) } : {}),
  });
  if (striped) registry?.set(key, client);
  return client;
}
