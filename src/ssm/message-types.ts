/**
 * Names and numbers of the Session Manager data channel (ssm-tunnel.md §2.4–§2.6). The builders
 * and parsers for the JSON payloads live next to this file, one per message: open-data-channel.ts,
 * acknowledge.ts, handshake.ts, channel-closed.ts, flag-payload.ts.
 */

/** The MessageType header field. */
export const MessageType = {
  /** Client → agent data and control; sequenced, acked by the agent. */
  InputStreamData: "input_stream_data",
  /** Agent → client data and control; sequenced, acked by the client. */
  OutputStreamData: "output_stream_data",
  /** Acknowledges one stream message; both directions. */
  Acknowledge: "acknowledge",
  /** The session is over; JSON payload with the reason. */
  ChannelClosed: "channel_closed",
  /** The peer is connected again: resume sending. */
  StartPublication: "start_publication",
  /** The peer is gone: stop sending new data and resends. */
  PausePublication: "pause_publication",
  /** Agent → service status; not expected at a client, ignored. */
  AgentSessionState: "agent_session_state",
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** The PayloadType header field (u32 at offset 112). 0 for acknowledge and channel_closed. */
export const PayloadType = {
  None: 0,
  /** Raw bytes; for Port sessions, the TCP stream. */
  Output: 1,
  /** Legacy. */
  Error: 2,
  /** Shell window size; ignored for Port sessions. */
  Size: 3,
  Parameter: 4,
  HandshakeRequest: 5,
  HandshakeResponse: 6,
  HandshakeComplete: 7,
  EncChallengeRequest: 8,
  EncChallengeResponse: 9,
  /** Payload is a big-endian u32 from `StreamFlag`. */
  Flag: 10,
  StdErr: 11,
  ExitCode: 12,
} as const;
export type PayloadType = (typeof PayloadType)[keyof typeof PayloadType];

/** Values carried in a PayloadType.Flag payload. */
export const StreamFlag = {
  /** Client → agent: the local TCP connection closed. */
  DisconnectToPort: 1,
  /** Client → agent: end the session cleanly (agents after 2.3.722.0). */
  TerminateSession: 2,
  /** Agent → client, mux sessions: the agent could not dial the destination port. */
  ConnectToPortError: 3,
} as const;
export type StreamFlag = (typeof StreamFlag)[keyof typeof StreamFlag];

/** Bits of the Flags header field. The agent sets SYN on its seq-0 message; acks carry SYN|FIN. */
export const HeaderFlag = {
  None: 0n,
  Syn: 1n,
  Fin: 2n,
} as const;

/** SchemaVersion written on every message. */
export const SCHEMA_VERSION = 1;

/** The payload size the plugin and agent use per stream message (StreamDataPayloadSize). */
export const STREAM_DATA_PAYLOAD_SIZE = 1024;
