/**
 * The fake's fault switches, read at the moment each message passes, so a test can flip them
 * mid-transfer. Fractions are probabilities per message (0 = never, 1 = always) and apply to the
 * sequenced stream messages and acks; the service's own control messages (channel_closed,
 * pause/start_publication) are never faulted, because nothing resends them.
 */
export interface DirectionFaults {
  /** Lose the message. */
  drop: number;
  /** Deliver it twice. */
  duplicate: number;
  /** Hold it back and deliver it after the next message (or after `reorderHoldMs`). */
  reorder: number;
}

export interface FaultSwitches {
  /** Fake agent → client. */
  toClient: DirectionFaults;
  /** Client → fake agent, applied before the agent reads the message. */
  fromClient: DirectionFaults;
  /** The agent's acks are held back until this time (Date.now() ms), then sent together. */
  withholdAcksUntil: number;
  /** The SessionType the handshake asks for; "Port" unless a test wants a refusal. */
  sessionType: string;
  /**
   * How long after HandshakeComplete the agent's Port plugin takes to connect to the target.
   * Until then the next client Output gets no ack (the agent's "not ready"), so the client must resend.
   */
  dialDelayMs: number;
  /** ResumeSession answers DoesNotExistException, so the client has to start a new session. */
  rejectResume: boolean;
}

/** Everything off. */
export function noFaults(): FaultSwitches {
  return {
    toClient: { drop: 0, duplicate: 0, reorder: 0 },
    fromClient: { drop: 0, duplicate: 0, reorder: 0 },
    withholdAcksUntil: 0,
    sessionType: "Port",
    dialDelayMs: 0,
    rejectResume: false,
  };
}
