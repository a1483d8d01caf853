import { describe, expect, test } from "bun:test";
import { ActionStatus, answerHandshake, parseHandshakeComplete, parseHandshakeRequest } from "./handshake.ts";

const bytes = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
const responseOf = (answer: { response: Uint8Array }) => JSON.parse(new TextDecoder().decode(answer.response));

const PORT_ACTION = { ActionType: "SessionType", ActionParameters: { SessionType: "Port", Properties: { portNumber: "7860" } } };
const KMS_ACTION = { ActionType: "KMSEncryption", ActionParameters: { KMSKeyId: "arn:aws:kms:eu-west-1:111122223333:key/abcd", Challenge: "AAAA" } };

describe("parseHandshakeRequest()", () => {
  test("reads the agent version and the requested actions", () => {
    const request = parseHandshakeRequest(bytes({ AgentVersion: "3.3.4624.0", RequestedClientActions: [PORT_ACTION] }));
    expect(request).toEqual({
      agentVersion: "3.3.4624.0",
      requestedClientActions: [{ actionType: "SessionType", actionParameters: PORT_ACTION.ActionParameters }],
    });
  });

  test.each([
    ["not JSON", "{"],
    ["actions that are not a list", { RequestedClientActions: {} }],
    ["an action without a type", { RequestedClientActions: [{ ActionParameters: {} }] }],
    ["a non-string agent version", { AgentVersion: 3, RequestedClientActions: [] }],
  ])("refuses %s with a typed error", (_name, payload) => {
    expect(() => parseHandshakeRequest(bytes(payload))).toThrow(expect.objectContaining({ code: "E_SSM_PROTOCOL" }));
  });
});

describe("answerHandshake()", () => {
  test("accepts a Port session, reports success and returns its properties", () => {
    const answer = answerHandshake(parseHandshakeRequest(bytes({ AgentVersion: "3.3.1.0", RequestedClientActions: [PORT_ACTION] })), "1.2.896.0");
    expect(answer.refusal).toBeUndefined();
    expect(answer.portProperties).toEqual({ portNumber: "7860" });
    expect(new TextDecoder().decode(answer.response)).toBe(
      '{"ClientVersion":"1.2.896.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null}',
    );
  });

  test("refuses a shell session but still answers it as Failed, so the agent ends the session at once", () => {
    const action = { ActionType: "SessionType", ActionParameters: { SessionType: "Standard_Stream" } };
    const answer = answerHandshake(parseHandshakeRequest(bytes({ RequestedClientActions: [action] })));
    expect(answer.refusal).toMatchObject({ code: "E_SSM_HANDSHAKE", message: expect.stringContaining("Standard_Stream") });
    expect(answer.portProperties).toBeUndefined();
    expect(responseOf(answer).ProcessedClientActions[0]).toMatchObject({ ActionStatus: ActionStatus.Failed });
  });

  test("refuses KMS encryption with a hint saying how to turn it off for the document", () => {
    const answer = answerHandshake(parseHandshakeRequest(bytes({ RequestedClientActions: [PORT_ACTION, KMS_ACTION] })));
    expect(answer.refusal).toMatchObject({ code: "E_SSM_HANDSHAKE", message: expect.stringContaining("KMS encryption") });
    expect(answer.refusal?.hint).toContain("kmsKeyId");
    expect(answer.refusal?.hint).toContain("Enable KMS encryption");
    expect(answer.portProperties).toBeUndefined();
    expect(responseOf(answer).ProcessedClientActions.map((action: { ActionStatus: number }) => action.ActionStatus)).toEqual([
      ActionStatus.Success,
      ActionStatus.Unsupported,
    ]);
  });

  test("the KMS refusal names the key but never contains the challenge", () => {
    const answer = answerHandshake(parseHandshakeRequest(bytes({ RequestedClientActions: [KMS_ACTION, PORT_ACTION] })));
    expect(answer.refusal?.details).toEqual({ kmsKeyId: KMS_ACTION.ActionParameters.KMSKeyId });
    expect(JSON.stringify([answer.refusal?.message, answer.refusal?.hint, answer.refusal?.details])).not.toContain("AAAA");
  });

  test("an unknown action is answered Unsupported without refusing the session", () => {
    const answer = answerHandshake(parseHandshakeRequest(bytes({ RequestedClientActions: [PORT_ACTION, { ActionType: "FutureThing" }] })));
    expect(answer.refusal).toBeUndefined();
    expect(responseOf(answer).ProcessedClientActions[1]).toMatchObject({ ActionType: "FutureThing", ActionStatus: ActionStatus.Unsupported });
  });

  test("a request with no session type is refused, since credproxy needs a Port session", () => {
    const answer = answerHandshake(parseHandshakeRequest(bytes({ RequestedClientActions: [] })));
    expect(answer.refusal).toMatchObject({ code: "E_SSM_HANDSHAKE" });
  });

  test("a ClientVersion below the minimum is refused before anything is sent", () => {
    const request = parseHandshakeRequest(bytes({ RequestedClientActions: [PORT_ACTION] }));
    expect(() => answerHandshake(request, "1.2.650.0")).toThrow(expect.objectContaining({ code: "E_SSM_SETTING" }));
  });
});

describe("parseHandshakeComplete()", () => {
  test("reads the time taken and the customer message", () => {
    expect(parseHandshakeComplete(bytes({ HandshakeTimeToComplete: 250000000, CustomerMessage: "hello" }))).toEqual({
      handshakeTimeToComplete: 250000000,
      customerMessage: "hello",
    });
  });

  test("an absent customer message reads as empty", () => {
    expect(parseHandshakeComplete(bytes({ HandshakeTimeToComplete: 1 })).customerMessage).toBe("");
  });
});
