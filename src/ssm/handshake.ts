/**
 * The data channel handshake (ssm-tunnel.md §2.7). The agent sends a HandshakeRequest listing
 * client actions; credproxy accepts exactly one SessionType, Port, and refuses KMS encryption.
 * A refusal is still answered (ActionStatus Failed/Unsupported) so the agent ends the session at
 * once instead of after its 15 s timeout, and the caller gets the user-facing error to show.
 */
import { checkClientVersion, DEFAULT_CLIENT_VERSION } from "./client-version.ts";
import { isObject, jsonBytes, optionalString, parseJsonObject } from "./json-payload.ts";
import type { CredproxyError } from "../errors.ts";
import { protocolError, SsmErrorCode, ssmError } from "./ssm-error.ts";

export const ClientActionType = {
  SessionType: "SessionType",
  KMSEncryption: "KMSEncryption",
} as const;

/** ActionStatus in a HandshakeResponse. */
export const ActionStatus = { Success: 1, Failed: 2, Unsupported: 3 } as const;
export type ActionStatus = (typeof ActionStatus)[keyof typeof ActionStatus];

export interface RequestedClientAction {
  readonly actionType: string;
  /** The raw ActionParameters object ({} when absent). */
  readonly actionParameters: Record<string, unknown>;
}

export interface HandshakeRequest {
  readonly agentVersion: string;
  readonly requestedClientActions: readonly RequestedClientAction[];
}

export interface ProcessedClientAction {
  readonly ActionType: string;
  readonly ActionStatus: ActionStatus;
  readonly ActionResult: null;
  readonly Error: string;
}

export interface HandshakeAnswer {
  /** The HandshakeResponse payload (PayloadType 6) to send in every case. */
  readonly response: Uint8Array;
  /** The Port session's properties (e.g. {portNumber: "7860"}) when it was accepted. */
  readonly portProperties: Record<string, unknown> | undefined;
  /** Set when credproxy refused the session; show it after sending `response`. */
  readonly refusal: CredproxyError | undefined;
}

/** Reads a HandshakeRequest payload (PayloadType 5). */
export function parseHandshakeRequest(payload: Uint8Array): HandshakeRequest {
  const json = parseJsonObject("handshake request", payload);
  const actions = json["RequestedClientActions"] ?? [];
  if (!Array.isArray(actions)) throw protocolError("json-field", "handshake request RequestedClientActions is not a list");
  return {
    agentVersion: optionalString("handshake request", json, "AgentVersion") ?? "",
    requestedClientActions: actions.map(readAction),
  };
}

function readAction(action: unknown): RequestedClientAction {
  if (!isObject(action) || typeof action["ActionType"] !== "string") {
    throw protocolError("json-field", "handshake request has an action without an ActionType");
  }
  const parameters = action["ActionParameters"];
  return { actionType: action["ActionType"], actionParameters: isObject(parameters) ? parameters : {} };
}

/** Decides every requested action and builds the response. Never throws for a refusal. */
export function answerHandshake(request: HandshakeRequest, clientVersion: string = DEFAULT_CLIENT_VERSION): HandshakeAnswer {
  const processed: ProcessedClientAction[] = [];
  let portProperties: Record<string, unknown> | undefined;
  let refusal: CredproxyError | undefined;
  for (const action of request.requestedClientActions) {
    const decision = decide(action);
    processed.push(decision.processed);
    if (decision.portProperties !== undefined) portProperties = decision.portProperties;
    refusal ??= decision.refusal;
  }
  if (portProperties === undefined && refusal === undefined) {
    refusal = ssmError(SsmErrorCode.Handshake, "the SSM agent did not ask for a session type; credproxy needs a Port session", {
      hint: "Use AWS-StartSSHSession or a Session document with \"sessionType\": \"Port\".",
    });
  }
  const response = jsonBytes({ ClientVersion: checkClientVersion(clientVersion), ProcessedClientActions: processed, Errors: null });
  return { response, portProperties: refusal === undefined ? portProperties : undefined, refusal };
}

interface Decision {
  processed: ProcessedClientAction;
  portProperties?: Record<string, unknown>;
  refusal?: CredproxyError;
}

function decide(action: RequestedClientAction): Decision {
  if (action.actionType === ClientActionType.SessionType) return decideSessionType(action);
  if (action.actionType === ClientActionType.KMSEncryption) return refuseKms(action);
  // An action this client does not know: say so and let the agent decide whether it matters.
  return { processed: processedAction(action, ActionStatus.Unsupported, `credproxy does not support ${action.actionType}`) };
}

function decideSessionType(action: RequestedClientAction): Decision {
  const sessionType = action.actionParameters["SessionType"];
  if (sessionType === "Port") {
    const properties = action.actionParameters["Properties"];
    return { processed: processedAction(action, ActionStatus.Success, ""), portProperties: isObject(properties) ? properties : {} };
  }
  const name = typeof sessionType === "string" ? sessionType : "(none)";
  return {
    processed: processedAction(action, ActionStatus.Failed, `credproxy accepts only Port sessions, not ${name}`),
    refusal: ssmError(SsmErrorCode.Handshake, `the session document started a ${name} session; credproxy tunnel needs a Port session`, {
      hint: "Use AWS-StartSSHSession (the default) or a Session document with \"sessionType\": \"Port\"; shell sessions are not binary-clean.",
      details: { sessionType: name },
    }),
  };
}

/**
 * KMS-encrypted sessions are not implemented. The agent disables encryption for Port sessions
 * (ssm-tunnel-2.md §7), so this should only appear with an unusual document or agent; whether
 * account preferences can force it on a Port session is unverified.
 */
function refuseKms(action: RequestedClientAction): Decision {
  const keyId = typeof action.actionParameters["KMSKeyId"] === "string" ? action.actionParameters["KMSKeyId"] : "";
  return {
    processed: processedAction(action, ActionStatus.Unsupported, "credproxy does not support KMS-encrypted sessions"),
    refusal: ssmError(SsmErrorCode.Handshake, "the session asks for KMS encryption, which credproxy tunnel does not support", {
      hint:
        "Turn KMS encryption off for the session document: remove \"kmsKeyId\" from its \"inputs\" (for a custom document, " +
        "aws ssm update-document), or for account-wide preferences untick \"Enable KMS encryption\" in Session Manager → " +
        "Preferences (document SSM-SessionManagerRunShell); or pass --document with a Port document that sets no kmsKeyId.",
      details: keyId === "" ? {} : { kmsKeyId: keyId },
    }),
  };
}

function processedAction(action: RequestedClientAction, status: ActionStatus, error: string): ProcessedClientAction {
  return { ActionType: action.actionType, ActionStatus: status, ActionResult: null, Error: error };
}

export interface HandshakeComplete {
  /** Nanoseconds the agent reports the handshake took. */
  readonly handshakeTimeToComplete: number;
  /** Text for the user; empty when there is none. */
  readonly customerMessage: string;
}

/** Reads a HandshakeComplete payload (PayloadType 7). */
export function parseHandshakeComplete(payload: Uint8Array): HandshakeComplete {
  const json = parseJsonObject("handshake complete", payload);
  const time = json["HandshakeTimeToComplete"];
  return {
    handshakeTimeToComplete: typeof time === "number" && Number.isFinite(time) ? time : 0,
    customerMessage: optionalString("handshake complete", json, "CustomerMessage") ?? "",
  };
}
