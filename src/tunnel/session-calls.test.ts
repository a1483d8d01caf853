import { afterAll, describe, expect, test } from "bun:test";
import { SSMClient } from "@aws-sdk/client-ssm";
import { createLogger } from "../log.ts";
import { DUMMY_CREDENTIALS, FAKE_REGION } from "../../test/helpers/fake-ssm/call-ssm-api.ts";
import { DEFAULT_INSTANCE_ID, PORT_FORWARDING_DOCUMENT, startFakeSsm } from "../../test/helpers/fake-ssm/fake-ssm.ts";
import { sessionCalls } from "./session-calls.ts";
import { DEFAULT_DOCUMENT } from "./tunnel-schema.ts";

// A policy that allows only port forwarding: StartSession with the other documents is denied.
const fake = startFakeSsm({ target: { host: "127.0.0.1", port: 9 }, documents: [PORT_FORWARDING_DOCUMENT], deniedDocuments: [DEFAULT_DOCUMENT, "Credproxy-AgentPort"] });
const ssm = new SSMClient({ region: FAKE_REGION, endpoint: fake.apiUrl, credentials: DUMMY_CREDENTIALS, maxAttempts: 1 });

afterAll(async () => {
  ssm.destroy();
  await fake.stop();
});

function calls(document: string) {
  const lines: string[] = [];
  const logger = createLogger({ write: (line) => lines.push(line), level: "warn" });
  return { lines, calls: sessionCalls({ ssm, instanceId: DEFAULT_INSTANCE_ID, document, agentPort: 7860, logger }) };
}

describe("StartSession when AWS-StartSSHSession is denied", () => {
  test("falls back to AWS-StartPortForwardingSession with one warning, and stays with it", async () => {
    const { lines, calls: c } = calls(DEFAULT_DOCUMENT);
    const first = await c.start();
    const second = await c.start();
    expect(fake.session(first.sessionId).documentName).toBe(PORT_FORWARDING_DOCUMENT);
    expect(fake.session(second.sessionId).documentName).toBe(PORT_FORWARDING_DOCUMENT);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "warn", msg: "StartSession with AWS-StartSSHSession was denied; trying AWS-StartPortForwardingSession (smux mode)" });
  });

  test("a document the user chose is not replaced: its denial is the error", async () => {
    const { lines, calls: c } = calls("Credproxy-AgentPort");
    const error = await c.start().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/ssm:StartSession .*AccessDeniedException/);
    expect(lines).toEqual([]);
  });
});
