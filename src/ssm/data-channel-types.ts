/** The public shape of the Session Manager data channel client (data-channel.ts). */
import type { AwsCredentials } from "../credentials/types.ts";
import type { CredproxyError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** What StartSession returned. */
export interface StartedSession {
  readonly sessionId: string;
  readonly streamUrl: string;
  readonly tokenValue: string;
}

/** What ResumeSession returned: a new StreamUrl (new cell-number) and token. */
export interface ResumedSession {
  readonly streamUrl: string;
  readonly tokenValue: string;
}

export interface DataChannelOptions {
  /** Calls StartSession (a Port session); injected so this module has no SDK dependency. */
  readonly start: () => Promise<StartedSession>;
  /** Calls ResumeSession; undefined (or an empty token) means the session is gone. */
  readonly resume: (sessionId: string) => Promise<ResumedSession | undefined>;
  /** Calls TerminateSession, on close(). */
  readonly terminate?: (sessionId: string) => Promise<void>;
  /** Read before every (re)connect, so resumes sign with fresh credentials (plugin #136). */
  readonly credentials: () => Promise<Pick<AwsCredentials, "accessKeyId" | "secretAccessKey" | "sessionToken">>;
  /** The session's region for signing; by default read from the stream host. */
  readonly region?: string;
  /** One UUID for the session, sent on every open frame; generated when absent. */
  readonly clientId?: string;
  readonly clientVersion?: string;
  /** Unix ms; stamps messages and drives the RTO. */
  readonly now?: () => number;
  /** Bound on framed bytes unacked plus queued (default 64 KiB). */
  readonly maxInFlightBytes?: number;
  /** How long one outage may last before giving up resuming (default 5 min). */
  readonly resumeBudgetMs?: number;
  /** How long to wait for HandshakeComplete after the first open (default 20 s). */
  readonly handshakeTimeoutMs?: number;
  readonly logger?: Logger;
  /** Accept ws:// and any host as StreamUrl (tests); also CREDPROXY_INSECURE_STREAM_URL=1. */
  readonly allowInsecureStreamUrl?: boolean;
  /** One more StreamUrl host (host[:port]) to accept over wss:// (--stream-endpoint). */
  readonly streamEndpoint?: string | undefined;
}

export type DataChannelState = "connecting" | "up" | "resuming" | "down";

export interface DataChannelStats {
  readonly state: DataChannelState;
  readonly sessionId: string | undefined;
  /** Output payload bytes delivered to onData / accepted by write. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Output messages delivered / sent (first sends; resends are counted apart). */
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly resends: number;
  /** Incoming stream messages seen again (re-acked, not delivered). */
  readonly duplicates: number;
  /** Frames that failed to decode, skipped. */
  readonly parseErrors: number;
  readonly srttMs: number;
  readonly rtoMs: number;
  /** Successful reconnects after a socket loss. */
  readonly reconnects: number;
  readonly unackedBytes: number;
}

/** How the channel ended; `error` is set when it ended on a failure rather than a close. */
export interface DataChannelClosed {
  readonly reason: string;
  readonly error?: CredproxyError;
}

/** What the agent's HandshakeRequest said about the accepted Port session. */
export interface PortSessionInfo {
  readonly agentVersion: string;
  /** The document's Properties, e.g. {portNumber: "7860", type: "LocalPortForwarding"}. */
  readonly properties: Record<string, unknown>;
}

export interface DataChannel {
  /** Queues bytes as Output messages of ≤ 1024 bytes; false (nothing taken) when over the in-flight bound. */
  write(bytes: Uint8Array): boolean;
  /** Called with each Output payload from the agent, in order, once. */
  onData(callback: (bytes: Uint8Array) => void): void;
  onState(callback: (state: DataChannelState) => void): void;
  /** Called once after a refused write when there is room again (half the bound free). */
  onWritable(callback: () => void): void;
  stats(): DataChannelStats;
  /** Resolves at HandshakeComplete; rejects if the channel ends first. */
  readonly ready: Promise<void>;
  readonly closed: Promise<DataChannelClosed>;
  /** TerminateSession flag and API call, then the socket closed. */
  close(): Promise<DataChannelClosed>;
  /** Set once the HandshakeRequest was accepted, before any Output is delivered. */
  portSession?(): PortSessionInfo | undefined;
}
