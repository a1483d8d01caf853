import { describe, expect, test } from "bun:test";
import { clientPolicy, documentArn, instanceRoleNeeds } from "./iam-policy.ts";
import { portSessionDocument, SESSION_DOCUMENT_NAME } from "./session-document.ts";

type Statement = { Sid: string; Effect: string; Action: string[]; Resource: string[] };
const statements = (policy: Record<string, unknown>) => policy.Statement as Statement[];
const actions = (policy: Record<string, unknown>) => statements(policy).flatMap((s) => s.Action).sort();

describe("clientPolicy()", () => {
  const policy = clientPolicy({ instanceId: "i-0123456789abcdef0", documents: ["AWS-StartSSHSession", SESSION_DOCUMENT_NAME] });

  test("grants exactly the calls credproxy tunnel makes, OpenDataChannel included, and no kms", () => {
    expect(actions(policy)).toEqual([
      "ec2:DescribeInstances",
      "ssm:DescribeInstanceInformation",
      "ssm:ResumeSession",
      "ssm:StartSession",
      "ssm:TerminateSession",
      "ssmmessages:OpenDataChannel",
    ]);
    expect(JSON.stringify(policy)).not.toContain("kms:");
    expect(statements(policy).every((s) => s.Effect === "Allow")).toBe(true);
  });

  test("StartSession is limited to the instance and the documents; the AWS-owned one has no account", () => {
    const start = statements(policy).find((s) => s.Action.includes("ssm:StartSession"))!;
    expect(start.Resource).toEqual([
      "arn:aws:ec2:*:*:instance/i-0123456789abcdef0",
      "arn:aws:ssm:*::document/AWS-StartSSHSession",
      "arn:aws:ssm:*:*:document/Credproxy-AgentPort",
    ]);
  });

  test("resume, terminate and the data channel only for the caller's own sessions", () => {
    const own = statements(policy).find((s) => s.Action.includes("ssmmessages:OpenDataChannel"))!;
    expect(own.Action).toEqual(expect.arrayContaining(["ssm:ResumeSession", "ssm:TerminateSession"]));
    expect(own.Resource).toEqual(["arn:aws:ssm:*:*:session/${aws:userid}-*"]);
  });

  test("without a known instance id it names every instance", () => {
    const start = statements(clientPolicy({ instanceId: undefined, documents: ["AWS-StartSSHSession"] })).find((s) => s.Action.includes("ssm:StartSession"))!;
    expect(start.Resource[0]).toBe("arn:aws:ec2:*:*:instance/*");
  });

  test("Sids are unique and IAM-valid (letters and digits only)", () => {
    const sids = statements(policy).map((s) => s.Sid);
    expect(new Set(sids).size).toBe(sids.length);
    for (const sid of sids) expect(sid).toMatch(/^[A-Za-z0-9]+$/);
  });
});

describe("documentArn() and instanceRoleNeeds()", () => {
  test("an Amazon-owned name gets the account-less ARN, an account's own name the account wildcard", () => {
    expect(documentArn("AmazonX")).toBe("arn:aws:ssm:*::document/AmazonX");
    expect(documentArn("my-doc")).toBe("arn:aws:ssm:*:*:document/my-doc");
  });
  test("the instance role line names the managed policy", () => {
    expect(instanceRoleNeeds()).toContain("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
  });
});

describe("portSessionDocument()", () => {
  const doc = portSessionDocument(7861);

  test("is a Port session document whose portNumber accepts the agent port only", () => {
    expect(doc).toMatchObject({ schemaVersion: "1.0", sessionType: "Port", properties: { portNumber: "{{ portNumber }}" } });
    const param = (doc.parameters as Record<string, { allowedPattern: string; default: string; type: string }>).portNumber!;
    expect(param.type).toBe("String");
    expect(param.default).toBe("7861");
    const allowed = new RegExp(param.allowedPattern);
    expect(["7861"].map((p) => allowed.test(p))).toEqual([true]);
    expect(["22", "17861", "78610", "7860"].some((p) => allowed.test(p))).toBe(false);
  });

  test("has no KMS or logging inputs (a Port session takes none) and survives a JSON round trip", () => {
    expect(doc).not.toHaveProperty("inputs");
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  test("the document name is one SSM accepts for a customer document", () => {
    expect(SESSION_DOCUMENT_NAME).toMatch(/^[a-zA-Z0-9_.-]{3,128}$/);
    expect(SESSION_DOCUMENT_NAME).not.toMatch(/^(aws|amazon)/i);
  });
});
