/**
 * The fake's control API, for tests in another process (the fake runs inside a namespace, see
 * serve-fake-ssm.ts), on the fake's own server under /_fake/:
 *
 *   GET  /_fake/sessions            every session with its agent's counters (SessionSnapshot[])
 *   POST /_fake/faults              JSON, a partial FaultSwitches merged into the current ones
 *                                   (toClient/fromClient field by field); answers the result
 *   POST /_fake/faults/reset        every switch off
 *   POST /_fake/bye/{id}            close the session's WebSocket with 1000 "Bye"
 *   POST /_fake/pause/{id}          pause_publication
 *   POST /_fake/start/{id}          start_publication
 *   POST /_fake/withhold-acks       JSON {ms}: hold every ack back for that long
 *   POST /_fake/terminate/{id}      end the session as TerminateSession does
 */
import type { AgentStats } from "./fake-agent.ts";
import type { MuxPortStats } from "./fake-mux-port.ts";
import type { FakeSsm } from "./fake-ssm.ts";
import { noFaults, type DirectionFaults, type FaultSwitches } from "./fault-switches.ts";
import type { LinkStats } from "./faulty-link.ts";

export const CONTROL_PREFIX = "/_fake/";

/** One session as GET /_fake/sessions shows it. */
export interface SessionSnapshot {
  readonly id: string;
  readonly target: string;
  readonly documentName: string;
  readonly state: string;
  readonly closedReason: string | undefined;
  /** A WebSocket is attached now. */
  readonly connected: boolean;
  readonly resumeCalls: number;
  /** Stream URLs issued (StartSession's and every ResumeSession's). */
  readonly grants: number;
  readonly clientIds: readonly string[];
  readonly agent: AgentStats;
  /** The Port plugin's smux streams, in mux mode (AWS-StartPortForwardingSession); else null. */
  readonly mux: MuxPortStats | null;
  readonly toClient: LinkStats;
  readonly fromClient: LinkStats;
  readonly windows: Record<string, unknown>;
}

/** Answers one /_fake/ request. */
export async function handleFakeControl(request: Request, fake: FakeSsm): Promise<Response> {
  const path = new URL(request.url).pathname.slice(CONTROL_PREFIX.length);
  try {
    if (request.method === "GET" && path === "sessions") return Response.json([...fake.sessions.values()].map((s) => snapshot(fake, s.id)));
    if (request.method !== "POST") return answer(405, "use GET /_fake/sessions or POST");
    if (path === "faults") return Response.json(mergeFaults(fake.faults, await request.json()));
    if (path === "faults/reset") return Response.json(Object.assign(fake.faults, noFaults()));
    if (path === "withhold-acks") {
      const { ms } = (await request.json()) as { ms?: unknown };
      if (typeof ms !== "number" || !(ms >= 0)) return answer(400, "withhold-acks wants {ms: number}");
      fake.withholdAcks(ms);
      return answer(200, "ok");
    }
    const [action, id] = path.split("/");
    if (id === undefined || !fake.sessions.has(id)) return answer(404, `no session ${id}`);
    if (action === "bye") fake.sendBye(id);
    else if (action === "pause") fake.pausePublication(id);
    else if (action === "start") fake.startPublication(id);
    else if (action === "terminate") fake.session(id).agent.terminate(`Session ${id} was terminated.`);
    else return answer(404, `unknown control ${path}`);
    return Response.json(snapshot(fake, id));
  } catch (err) {
    return answer(400, err instanceof Error ? err.message : String(err));
  }
}

function snapshot(fake: FakeSsm, id: string): SessionSnapshot {
  const s = fake.session(id);
  return {
    id: s.id,
    target: s.target,
    documentName: s.documentName,
    state: s.agent.state,
    closedReason: s.agent.closedReason,
    connected: s.socket !== undefined,
    resumeCalls: s.resumeCalls,
    grants: s.grants.length,
    clientIds: s.clientIds,
    agent: s.agent.stats,
    mux: s.agent.mux?.stats ?? null,
    toClient: s.agent.toClient.stats,
    fromClient: s.agent.fromClient.stats,
    windows: s.agent.windowStats() as unknown as Record<string, unknown>,
  };
}

const DIRECTION_KEYS = ["drop", "duplicate", "reorder"] as const;

/** Applies `patch` to `faults` after checking every field; answers the switches now in force. */
function mergeFaults(faults: FaultSwitches, patch: unknown): FaultSwitches {
  if (typeof patch !== "object" || patch === null) throw new Error("faults wants a JSON object");
  const p = patch as Record<string, unknown>;
  for (const direction of ["toClient", "fromClient"] as const) {
    const given = p[direction];
    if (given === undefined) continue;
    if (typeof given !== "object" || given === null) throw new Error(`${direction} must be an object`);
    for (const [key, value] of Object.entries(given)) {
      if (!(DIRECTION_KEYS as readonly string[]).includes(key) || typeof value !== "number" || value < 0 || value > 1) {
        throw new Error(`${direction}.${key} must be one of ${DIRECTION_KEYS.join(", ")} with a value from 0 to 1`);
      }
      faults[direction][key as keyof DirectionFaults] = value;
    }
  }
  const scalars: Record<string, string> = { sessionType: "string", dialDelayMs: "number", rejectResume: "boolean" };
  for (const [key, value] of Object.entries(p)) {
    if (key === "toClient" || key === "fromClient") continue;
    if (scalars[key] === undefined || typeof value !== scalars[key]) throw new Error(`unknown fault switch ${key} (or not a ${scalars[key] ?? "known type"})`);
    (faults as unknown as Record<string, unknown>)[key] = value;
  }
  return faults;
}

function answer(status: number, text: string): Response {
  return new Response(`${text}\n`, { status });
}
