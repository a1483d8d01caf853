/**
 * The bounds on the queues in front of a Session Manager session (ssm-tunnel.md §9): on the
 * client, the data channel's in-flight bytes (unacked + queued, the drop-tail queue at TUN
 * ingress); on the agent, the backlog toward the SSM agent's connection and that socket's small
 * send buffer. Both ends read them here, and only here.
 *
 * BENCHMARK ONLY: `CREDPROXY_TUNNEL_QUEUE=unbounded` lifts every bound, so bench/tunnel.bench.ts
 * can show what the bounds buy: nothing is dropped at ingress, bytes wait in an ever-growing
 * queue until the socket takes them, and the agent's socket keeps the kernel's default (auto-
 * tuned) send buffer and the agent neither offers nor applies its in-flight bound (the bytes on
 * the way to the client, from the client's reports), which is what a tunnel that simply writes
 * into the session gets. It is
 * not a user setting: latency under load grows without limit with it. Not in --help or the docs
 * for users; docs/BENCHMARKS.md names it.
 */
import { DEFAULT_MAX_BACKLOG_BYTES, DEFAULT_STUCK_BYTES } from "../agent/backlog-writer.ts";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { DEFAULT_MAX_IN_FLIGHT_BYTES } from "../ssm/data-channel.ts";

export const TUNNEL_QUEUE_ENV = "CREDPROXY_TUNNEL_QUEUE";

/** The send buffer asked for on each SSM agent connection (Linux doubles it: 32 KiB). */
export const AGENT_SEND_BUFFER_BYTES = 16 * 1024;

export interface TunnelQueueBounds {
  /** "bounded" (the default) or "unbounded" (benchmarks only). */
  readonly mode: "bounded" | "unbounded";
  readonly clientInFlightBytes: number;
  readonly agentBacklogBytes: number;
  /** Backlog at which the agent calls its connection stuck and ends the session. */
  readonly agentStuckBytes: number;
  /** Undefined: leave the kernel's default send buffer. */
  readonly agentSendBufferBytes: number | undefined;
  /** The agent's end-to-end bound on bytes in flight to a reporting client (agent/in-flight-bound.ts). */
  readonly agentInFlightBound: boolean;
}

const BOUNDED: TunnelQueueBounds = Object.freeze({
  mode: "bounded",
  clientInFlightBytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
  agentBacklogBytes: DEFAULT_MAX_BACKLOG_BYTES,
  agentStuckBytes: DEFAULT_STUCK_BYTES,
  agentSendBufferBytes: AGENT_SEND_BUFFER_BYTES,
  agentInFlightBound: true,
});

const UNBOUNDED: TunnelQueueBounds = Object.freeze({
  mode: "unbounded",
  clientInFlightBytes: Infinity,
  agentBacklogBytes: Infinity,
  agentStuckBytes: Infinity,
  agentSendBufferBytes: undefined,
  agentInFlightBound: false,
});

/** The queue bounds the environment asks for; unset or "bounded" is the default. */
export function tunnelQueueBounds(env: Record<string, string | undefined> = process.env): TunnelQueueBounds {
  const value = env[TUNNEL_QUEUE_ENV];
  if (value === undefined || value === "" || value === "bounded") return BOUNDED;
  if (value === "unbounded") return UNBOUNDED;
  throw new CredproxyError(ErrorCode.ConfigInvalid, `${TUNNEL_QUEUE_ENV}=${value} is not a queue mode`, {
    hint: `unset ${TUNNEL_QUEUE_ENV} (it is a benchmark switch); its only values are "bounded" and "unbounded"`,
  });
}
