/**
 * A fake of the Session Manager service side on 127.0.0.1 (ssm-tunnel.md §2.11, §11): the SSM
 * JSON API (StartSession, ResumeSession, TerminateSession, DescribeInstanceInformation) and the
 * ssmmessages WebSocket on one port, with a fake SSM agent behind each session that forwards to
 * `target` (the "agent port" on the instance). Fault switches in `faults` are read per message
 * and may be changed at any time; `sendBye`, `pausePublication`/`startPublication` and
 * `withholdAcks` act at once.
 */
import { FakeAgent, type AgentTarget } from "./fake-agent.ts";
import { FakeSession, newSessionId } from "./fake-session.ts";
import { noFaults, type FaultSwitches } from "./fault-switches.ts";
import { seededRandom } from "./faulty-link.ts";
import { dataChannelHandlers, upgradeDataChannel, type DataChannelSocketData } from "./data-channel.ts";
import { CONTROL_PREFIX, handleFakeControl } from "./fake-control.ts";
import { handleSsmApi, requiredString, SsmApiError, type SsmApiBackend } from "./ssm-api.ts";

export interface FakeSsmOptions {
  /** Where every session's agent connects. */
  readonly target: AgentTarget;
  /** Instance ids that are "online"; StartSession to any other gives TargetNotConnected. */
  readonly instances?: readonly string[];
  /**
   * Session documents accepted; default AWS-StartSSHSession. Each is a Port session, basic except
   * AWS-StartPortForwardingSession, whose properties say LocalPortForwarding (smux mode).
   */
  readonly documents?: readonly string[];
  /** Documents StartSession answers AccessDeniedException for, as an IAM policy would. */
  readonly deniedDocuments?: readonly string[];
  /** The AgentVersion of the handshake and DescribeInstanceInformation; default FAKE_AGENT_VERSION. */
  readonly agentVersion?: string;
  /** The agent's pause after each 1024-byte read; default 1 ms like the real agent. */
  readonly readPauseMs?: number;
  /** Seed for the fault dice. */
  readonly seed?: number;
  /** Refuse upgrades without a SigV4-shaped Authorization (default true). */
  readonly requireSignedUpgrade?: boolean;
  readonly handshakeTimeoutMs?: number;
  /** The address to listen on and to put in stream URLs; default 127.0.0.1. */
  readonly hostname?: string;
  /** The port to listen on; default one the OS picks. */
  readonly port?: number;
  /** Also answer the /_fake/ control API (fake-control.ts) on the same server. */
  readonly control?: boolean;
}

export interface FakeSsm {
  /** http://HOST:PORT — the SSM endpoint to point the client at. */
  readonly apiUrl: string;
  readonly faults: FaultSwitches;
  readonly sessions: ReadonlyMap<string, FakeSession>;
  /** The session by id; throws for an unknown one. */
  session(id: string): FakeSession;
  /** Closes the session's current WebSocket with 1000 "Bye", as the service does hourly. */
  sendBye(sessionId: string): void;
  pausePublication(sessionId: string): void;
  startPublication(sessionId: string): void;
  /** Holds back every ack the agents send for the next `ms` milliseconds. */
  withholdAcks(ms: number): void;
  stop(): Promise<void>;
}

export const DEFAULT_INSTANCE_ID = "i-0123456789abcdef0";
export const FAKE_AGENT_VERSION = "3.3.4624.0";
/** The document whose sessions run in smux mode (with a new enough agent and client). */
export const PORT_FORWARDING_DOCUMENT = "AWS-StartPortForwardingSession";

/** Starts the fake on 127.0.0.1 (or `hostname`), a port the OS picks (or `port`). */
export function startFakeSsm(options: FakeSsmOptions): FakeSsm {
  const faults = noFaults();
  const random = seededRandom(options.seed ?? 12);
  const sessions = new Map<string, FakeSession>();
  const session = (id: string): FakeSession => {
    const found = sessions.get(id);
    if (found === undefined) throw new Error(`no fake session ${id}`);
    return found;
  };
  let wsBase = "";
  const backend = ssmBackend({ options, faults, random, sessions, wsBase: () => wsBase });
  const hostname = options.hostname ?? "127.0.0.1";
  let fake: FakeSsm | undefined;
  const server = Bun.serve<DataChannelSocketData>({
    hostname,
    port: options.port ?? 0,
    fetch(request, server) {
      if (options.control && fake !== undefined && new URL(request.url).pathname.startsWith(CONTROL_PREFIX)) return handleFakeControl(request, fake);
      const upgraded = upgradeDataChannel(request, server, sessions, options.requireSignedUpgrade ?? true);
      if (upgraded === "upgraded") return undefined;
      return upgraded ?? handleSsmApi(request, backend);
    },
    websocket: dataChannelHandlers(),
  });
  const authority = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${server.port}`;
  wsBase = `ws://${authority}`;
  fake = {
    apiUrl: `http://${authority}`,
    faults,
    sessions,
    session,
    sendBye(sessionId) {
      const s = session(sessionId);
      const socket = s.socket;
      if (socket === undefined) return;
      s.socket = undefined;
      s.agent.detach(socket);
      socket.close(1000, "Bye");
    },
    pausePublication: (sessionId) => session(sessionId).agent.pausePublication(),
    startPublication: (sessionId) => session(sessionId).agent.startPublication(),
    withholdAcks(ms) {
      faults.withholdAcksUntil = Date.now() + ms;
    },
    async stop() {
      for (const s of sessions.values()) s.agent.stop();
      await server.stop(true);
    },
  };
  return fake;
}

interface BackendContext {
  readonly options: FakeSsmOptions;
  readonly faults: FaultSwitches;
  readonly random: () => number;
  readonly sessions: Map<string, FakeSession>;
  readonly wsBase: () => string;
}

function ssmBackend(context: BackendContext): SsmApiBackend {
  const { options, sessions } = context;
  const instances = options.instances ?? [DEFAULT_INSTANCE_ID];
  const known = (body: Record<string, unknown>): FakeSession => {
    const found = sessions.get(requiredString(body, "SessionId"));
    if (found === undefined) throw new SsmApiError("DoesNotExistException", "Session does not exist");
    return found;
  };
  return {
    startSession(body) {
      const target = requiredString(body, "Target");
      if (!instances.includes(target)) throw new SsmApiError("TargetNotConnected", `${target} is not connected.`);
      const document = documentOf(body, options.documents ?? ["AWS-StartSSHSession"], options.deniedDocuments ?? []);
      const session = createSession(context, target, document, portNumberOf(body));
      const grant = session.issue(context.wsBase());
      return { SessionId: session.id, TokenValue: grant.tokenValue, StreamUrl: grant.streamUrl };
    },
    resumeSession(body) {
      const session = known(body);
      session.resumeCalls++;
      if (context.faults.rejectResume) throw new SsmApiError("DoesNotExistException", `Session ${session.id} does not exist.`);
      // The plugin reads an empty token as "the session timed out or was terminated".
      if (session.terminated) return { SessionId: session.id, TokenValue: "", StreamUrl: "" };
      const grant = session.issue(context.wsBase());
      return { SessionId: session.id, TokenValue: grant.tokenValue, StreamUrl: grant.streamUrl };
    },
    terminateSession(body) {
      const session = known(body);
      session.agent.terminate(`Session ${session.id} was terminated.`);
      session.socket = undefined;
      return { SessionId: session.id };
    },
    describeInstanceInformation(body) {
      const wanted = instanceIdFilter(body);
      const list = instances.filter((id) => wanted === undefined || wanted.includes(id)).map(instanceInformation);
      return { InstanceInformationList: list };
    },
  };
}

function createSession(context: BackendContext, target: string, document: string, portNumber: string): FakeSession {
  const id = newSessionId("credproxy-test");
  const agent = new FakeAgent({
    sessionId: id,
    target: context.options.target,
    properties: document === PORT_FORWARDING_DOCUMENT ? { portNumber, type: "LocalPortForwarding" } : { portNumber },
    faults: context.faults,
    random: context.random,
    readPauseMs: context.options.readPauseMs ?? 1,
    agentVersion: context.options.agentVersion ?? FAKE_AGENT_VERSION,
    handshakeTimeoutMs: context.options.handshakeTimeoutMs ?? 15_000,
  });
  const session = new FakeSession({ id, target, documentName: document, agent });
  context.sessions.set(id, session);
  return session;
}

/** DocumentName, defaulting like the service to SSM-SessionManagerRunShell (a shell, which this fake refuses). */
function documentOf(body: Record<string, unknown>, accepted: readonly string[], denied: readonly string[]): string {
  const name = typeof body["DocumentName"] === "string" ? body["DocumentName"] : "SSM-SessionManagerRunShell";
  if (denied.includes(name)) throw new SsmApiError("AccessDeniedException", `User is not authorized to perform: ssm:StartSession on resource: arn:aws:ssm:us-east-1::document/${name}`);
  if (!accepted.includes(name)) throw new SsmApiError("InvalidDocument", `Document ${name} is not a Port session document this fake serves.`);
  return name;
}

/** Parameters.portNumber, a list of one string as the API carries it; "22" by default (AWS-StartSSHSession). */
function portNumberOf(body: Record<string, unknown>): string {
  const parameters = body["Parameters"];
  if (parameters === undefined) return "22";
  const port = typeof parameters === "object" && parameters !== null ? (parameters as Record<string, unknown>)["portNumber"] : undefined;
  if (port === undefined) return "22";
  if (!Array.isArray(port) || port.length !== 1 || typeof port[0] !== "string" || !/^\d{1,5}$/.test(port[0])) {
    throw new SsmApiError("InvalidParameters", "portNumber must be a list holding one port number string");
  }
  return port[0];
}

/** The ids of an InstanceIds filter in `Filters` or `InstanceInformationFilterList`, if any. */
function instanceIdFilter(body: Record<string, unknown>): string[] | undefined {
  for (const [list, keyField, valuesField] of [["Filters", "Key", "Values"], ["InstanceInformationFilterList", "key", "valueSet"]] as const) {
    const filters = body[list];
    if (!Array.isArray(filters)) continue;
    for (const filter of filters as Record<string, unknown>[]) {
      if (filter[keyField] === "InstanceIds" && Array.isArray(filter[valuesField])) return filter[valuesField] as string[];
    }
  }
  return undefined;
}

function instanceInformation(id: string): Record<string, unknown> {
  return {
    InstanceId: id,
    PingStatus: "Online",
    LastPingDateTime: Date.now() / 1000,
    AgentVersion: FAKE_AGENT_VERSION,
    IsLatestVersion: true,
    PlatformType: "Linux",
    PlatformName: "Amazon Linux",
    PlatformVersion: "2023",
    ResourceType: "EC2Instance",
  };
}
