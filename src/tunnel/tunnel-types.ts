/**
 * The client tunnel's public shapes (tunnel-session.ts re-exports them): its options, what
 * `tunnel up` prints, how it ends, and the restart and keepalive defaults; plus the TUN it holds.
 */
import type { CredproxyError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DataChannel } from "../ssm/data-channel-types.ts";
import type { TunDevice, TunOptions } from "../net/tun-device.ts";
import type { Ipv6State } from "./ipv6-state.ts";
import type { TunnelClock } from "./tunnel-clock.ts";
import type { TunnelStatus } from "./tunnel-status.ts";

export const PONG_TIMEOUT_MS = 60_000;
export const RESTART_BACKOFF = { firstDelayMs: 1000, maxDelayMs: 30_000 } as const;
export const DEFAULT_START_ATTEMPTS = 3;

export interface TunnelSessionOptions {
  /** Opens one data channel (StartSession and all); called for every new session. */
  readonly openChannel: () => DataChannel;
  readonly openTun: (options: TunOptions) => Promise<TunDevice>;
  /** The CIDRs routed through the tunnel (canonical text, checked by the caller). */
  readonly cidrs: readonly string[];
  /** The interface name to ask for (default: the TUN opener's). */
  readonly tunName?: string | undefined;
  /** Our MTU; the agent's HELLO may lower it. */
  readonly mtu: number;
  readonly clock?: TunnelClock;
  readonly logger?: Logger;
  readonly hostname?: string;
  /** 16 bytes shared by every session of this tunnel; random when absent. */
  readonly clientId?: Uint8Array;
  readonly helloTimeoutMs?: number;
  readonly pingIntervalMs?: number;
  readonly pongTimeoutMs?: number;
  readonly backoff?: { readonly firstDelayMs: number; readonly maxDelayMs: number };
  /** Failed starts before the first session is up that end the tunnel (default 3 per session). */
  readonly startAttempts?: number;
  /** Striped sessions to keep open, 1 to MAX_SESSIONS (default 1). */
  readonly sessions?: number;
  /** Called each time a session comes up (a new one may bring a new TUN): the DNS settings follow it. */
  readonly onUp?: ((up: TunnelUp) => void) | undefined;
}

/** What `tunnel up` prints once traffic can flow. */
export interface TunnelUp {
  readonly interface: string;
  readonly clientAddress: string;
  readonly agentAddress: string;
  readonly mtu: number;
  readonly routes: readonly string[];
  readonly sessionId: string | undefined;
  /** `fd63:…::3 -> fd63:…::2`, or why IPv6 is not carried (ipv6-state.ts). */
  readonly ipv6: Ipv6State;
}

export interface TunnelEnd {
  readonly reason: string;
  readonly error?: CredproxyError | undefined;
}

export interface Tunnel {
  /** Resolves when the first session is up; rejects when the tunnel ends before that. */
  readonly ready: Promise<TunnelUp>;
  /** Resolves once the tunnel has ended (close(), or a failure it cannot recover from). */
  readonly closed: Promise<TunnelEnd>;
  status(): TunnelStatus;
  /** CLOSE to the agent, TerminateSession, the TUN and its routes removed. Idempotent. */
  close(reason?: string): Promise<TunnelEnd>;
}

export interface OpenTun {
  readonly device: TunDevice;
  readonly key: string;
  readonly up: Omit<TunnelUp, "sessionId">;
}

/** The addresses of the client's TUN: the IPv4 pair, and the IPv6 pair when the agent gave one. */
export interface TunPair {
  readonly clientAddress: string;
  readonly agentAddress: string;
  readonly ipv6: Ipv6State;
}
