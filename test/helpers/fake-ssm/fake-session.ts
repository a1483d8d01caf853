/**
 * One session in the fake's table: what StartSession was asked, the token and stream URL last
 * issued (ResumeSession issues new ones: a new TokenValue and a new cell-number, as the real
 * service does, ssm-tunnel-2.md §1.4), and the agent side that outlives reconnects.
 */
import { randomBytes } from "node:crypto";
import type { ClientSocket, FakeAgent } from "./fake-agent.ts";

export interface StreamGrant {
  readonly tokenValue: string;
  /** The raw cell-number query value, base64 with `+` and `/` left as they are. */
  readonly cellNumber: string;
  readonly streamUrl: string;
}

export class FakeSession {
  readonly id: string;
  readonly target: string;
  readonly documentName: string;
  readonly agent: FakeAgent;
  /** Every grant issued, oldest first; only the last one opens the data channel. */
  readonly grants: StreamGrant[] = [];
  /** The ClientId of every open frame accepted, in order (the same one on every reconnect). */
  readonly clientIds: string[] = [];
  /** The WebSocket the client is attached through now, if any. */
  socket: ClientSocket | undefined;
  resumeCalls = 0;

  /** True once the agent ended the session (TerminateSession, the client's flag, the target closing). */
  get terminated(): boolean {
    return this.agent.state === "terminated";
  }

  constructor(fields: { id: string; target: string; documentName: string; agent: FakeAgent }) {
    this.id = fields.id;
    this.target = fields.target;
    this.documentName = fields.documentName;
    this.agent = fields.agent;
  }

  /** The grant the data channel accepts now. */
  get current(): StreamGrant {
    const grant = this.grants.at(-1);
    if (grant === undefined) throw new Error(`session ${this.id} has no stream grant`);
    return grant;
  }

  /** A fresh token and stream URL under `wsBase` (ws://127.0.0.1:PORT). */
  issue(wsBase: string): StreamGrant {
    const cellNumber = cellNumberWithPlusAndSlash();
    const grant: StreamGrant = {
      tokenValue: randomBytes(48).toString("base64"),
      cellNumber,
      streamUrl: `${wsBase}/v1/data-channel/${this.id}?role=publish_subscribe&cell-number=${cellNumber}`,
    };
    this.grants.push(grant);
    return grant;
  }
}

/** A session id in the real shape: `<user>-<17 hex digits>`. */
export function newSessionId(user: string): string {
  return `${user}-${randomBytes(9).toString("hex").slice(0, 17)}`;
}

/** Random base64 that always contains `+` and `/`, the characters that trip URL signing. */
function cellNumberWithPlusAndSlash(): string {
  return `${randomBytes(6).toString("base64")}+${randomBytes(6).toString("base64")}/${randomBytes(4).toString("base64")}`;
}
