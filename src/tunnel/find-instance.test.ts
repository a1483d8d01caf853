/**
 * Instance discovery against real SDK clients: EC2 is moto_server in validating mode (every
 * request signed with the moto user's key), SSM is a tiny local fake because moto does not
 * implement DescribeInstanceInformation. Both are reached only through AWS_ENDPOINT_URL_EC2 and
 * AWS_ENDPOINT_URL_SSM, as `credproxy tunnel` would be. Loopback only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RunInstancesCommand, StopInstancesCommand } from "@aws-sdk/client-ec2";
import { startMoto, type ValidatingMoto } from "../../test/helpers/moto.ts";
import { CredproxyError, ErrorCode } from "../errors";
import { findInstance } from "./find-instance";
import { startFakeInstanceInformation, type FakeInstanceInformation } from "./find-instance.fake-ssm";
import { tunnelClients, type TunnelClients } from "./tunnel-clients";

const REGION = "eu-west-1";
const ENV_NAMES = ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"] as const;
const savedEnv = new Map(ENV_NAMES.map((n) => [n, process.env[n]]));

let moto: ValidatingMoto;
let ssmFake: FakeInstanceInformation;
let clients: TunnelClients;
/** Instance ids by the `role` tag they were started with. */
const ids: Record<string, string[]> = {};

async function runInstance(role: string, name: string): Promise<string> {
  const out = await clients.ec2.send(
    new RunInstancesCommand({
      ImageId: "ami-12c6146b",
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "Name", Value: name }, { Key: "role", Value: role }, { Key: "env", Value: "test" }] }],
    }),
  );
  const id = out.Instances?.[0]?.InstanceId;
  if (id === undefined) throw new Error("moto RunInstances returned no instance id");
  (ids[role] ??= []).push(id);
  return id;
}

// Starting moto takes seconds on a loaded machine: the default 5 s hook timeout is too tight.
beforeAll(async () => {
  moto = await startMoto({ validating: true, roles: [] });
  ssmFake = startFakeInstanceInformation();
  process.env.AWS_ENDPOINT_URL_EC2 = moto.endpoint;
  process.env.AWS_ENDPOINT_URL_SSM = ssmFake.url;
  delete process.env.AWS_ENDPOINT_URL;
  process.env.AWS_CONFIG_FILE = "/dev/null";
  const key = { accessKeyId: moto.user.accessKeyId, secretAccessKey: moto.user.secretAccessKey };
  clients = await tunnelClients({ region: REGION, credentials: async () => key });

  const bastion = await runInstance("bastion", "bastion-a");
  await runInstance("web", "web-1");
  await runInstance("web", "web-2");
  const old = await runInstance("old", "old-bastion");
  await clients.ec2.send(new StopInstancesCommand({ InstanceIds: [old] }));
  await runInstance("unmanaged", "no-agent");
  const lost = await runInstance("lost", "agent-gone");
  ssmFake.instances.set(bastion, { pingStatus: "Online", agentVersion: "3.3.4624.0" });
  ssmFake.instances.set(lost, { pingStatus: "ConnectionLost", lastPing: new Date("2026-01-02T03:04:05Z") });
  for (const id of [...ids["web"]!, old]) ssmFake.instances.set(id, { pingStatus: "Online" });
}, 60_000);

afterAll(async () => {
  clients?.destroy();
  ssmFake?.stop();
  await moto?.stop();
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** The CredproxyError findInstance rejects with (fails the test if it resolves). */
async function refusal(selector: { instanceId?: string; tags?: Record<string, string> }): Promise<CredproxyError> {
  const error = await findInstance({ ...selector, ec2: clients.ec2, ssm: clients.ssm }).then(
    (found) => new Error(`expected a refusal, found ${found.instanceId}`),
    (e: unknown) => e,
  );
  if (!(error instanceof CredproxyError)) throw error;
  return error;
}

describe("a tunnel instance is found", () => {
  test("by id, with its Name tag, private IP and SSM agent version", async () => {
    const id = ids["bastion"]![0]!;
    const found = await findInstance({ instanceId: id, ec2: clients.ec2, ssm: clients.ssm });
    expect(found).toMatchObject({ instanceId: id, name: "bastion-a", state: "running", agentVersion: "3.3.4624.0" });
    expect(found.privateIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  test("by tags, when exactly one running instance carries all of them", async () => {
    const found = await findInstance({ tags: { role: "bastion", env: "test" }, ec2: clients.ec2, ssm: clients.ssm });
    expect(found.instanceId).toBe(ids["bastion"]![0]!);
  });

  test("with the SSM check asking Systems Manager about that instance id only", async () => {
    ssmFake.requests.length = 0;
    await findInstance({ instanceId: ids["bastion"]![0]!, ec2: clients.ec2, ssm: clients.ssm });
    expect(ssmFake.requests).toEqual([{ Filters: [{ Key: "InstanceIds", Values: [ids["bastion"]![0]!] }] }]);
  });
});

describe("a selection that is not exactly one running instance is refused", () => {
  test("tags no instance carries say none exists in any state", async () => {
    const error = await refusal({ tags: { role: "nobody" } });
    expect(error.code).toBe(ErrorCode.ConfigInvalid);
    expect(error.message).toBe(`no running instance with tags role=nobody in ${REGION}, and none in any other state`);
    expect(error.hint).toContain("case-sensitive");
  });

  test("tags matching only a stopped instance list it with its state", async () => {
    const error = await refusal({ tags: { role: "old" } });
    expect(error.message).toStartWith(`no running instance with tags role=old in ${REGION}; found 1 not running:`);
    expect(error.message).toMatch(new RegExp(`${ids["old"]![0]!} "old-bastion" stopped \\d+\\.\\d+\\.\\d+\\.\\d+`));
    expect(error.hint).toContain("Start one of them");
  });

  test("tags matching two running instances list both with id, Name tag, state and private IP", async () => {
    const error = await refusal({ tags: { role: "web" } });
    expect(error.message).toStartWith(`2 running instances have tags role=web in ${REGION}; a tunnel needs exactly one:`);
    const [first, second] = ids["web"]!;
    expect(error.message).toMatch(new RegExp(`${first} "web-1" running \\d+\\.\\d+\\.\\d+\\.\\d+`));
    expect(error.message).toMatch(new RegExp(`${second} "web-2" running \\d+\\.\\d+\\.\\d+\\.\\d+`));
    expect(error.hint).toContain("--instance-id");
    expect((error.details?.["instances"] as unknown[]).length).toBe(2);
  });

  test("the id of a stopped instance is refused with a hint to start it", async () => {
    const id = ids["old"]![0]!;
    const error = await refusal({ instanceId: id });
    expect(error.message).toStartWith(`instance ${id} in ${REGION} is stopped, not running:`);
    expect(error.hint).toContain(`aws ec2 start-instances --instance-ids ${id}`);
  });

  test("an id that does not exist is refused naming the region", async () => {
    const error = await refusal({ instanceId: "i-0000000000000dead" });
    expect(error.message).toBe(`no instance i-0000000000000dead in ${REGION}`);
    expect(error.hint).toContain("--region");
  });

  test("neither an id nor tags, or both at once, are refused before any AWS call", async () => {
    expect((await refusal({})).message).toBe("no instance selected");
    expect((await refusal({ tags: {} })).message).toBe("no instance selected");
    expect((await refusal({ instanceId: "i-1", tags: { a: "b" } })).message).toBe("give either an instance id or tags, not both");
  });
});

describe("an instance Session Manager cannot reach is refused", () => {
  test("one Systems Manager does not list gets the agent, instance profile and VPC endpoint hint", async () => {
    const id = ids["unmanaged"]![0]!;
    const error = await refusal({ tags: { role: "unmanaged" } });
    expect(error.message).toBe(`instance ${id} in ${REGION} is not managed by Systems Manager (ssm:DescribeInstanceInformation does not list it)`);
    expect(error.hint).toContain("SSM agent");
    expect(error.hint).toContain("AmazonSSMManagedInstanceCore");
    expect(error.hint).toContain("ssm, ssmmessages and ec2messages VPC endpoints");
  });

  test("one whose agent lost its connection is refused with its PingStatus and last check-in", async () => {
    const error = await refusal({ instanceId: ids["lost"]![0]! });
    expect(error.message).toContain("PingStatus is ConnectionLost, not Online; its agent last checked in at 2026-01-02T03:04:05.000Z");
    expect(error.hint).toContain("systemctl status amazon-ssm-agent");
  });

  test("a denied DescribeInstanceInformation names the permission to add", async () => {
    ssmFake.refuseWith = "AccessDeniedException";
    try {
      const error = await refusal({ instanceId: ids["bastion"]![0]! });
      expect(error.message).toStartWith(`ssm:DescribeInstanceInformation in ${REGION} failed:`);
      expect(error.details?.["awsCode"]).toBe("AccessDeniedException");
      expect(error.hint).toBe("Allow ssm:DescribeInstanceInformation for these credentials (IAM policy of the user or role)");
    } finally {
      ssmFake.refuseWith = undefined;
    }
  });
});

describe("tunnel clients", () => {
  test("sign with the credentials given, so moto refuses a key it does not know", async () => {
    const stranger = await tunnelClients({ region: REGION, credentials: async () => ({ accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "not-a-real-secret" }) });
    try {
      const error = await findInstance({ instanceId: ids["bastion"]![0]!, ec2: stranger.ec2, ssm: stranger.ssm }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CredproxyError);
      expect((error as CredproxyError).message).toStartWith(`ec2:DescribeInstances in ${REGION} failed:`);
      expect((error as CredproxyError).hint).toContain("source credentials");
    } finally {
      stranger.destroy();
    }
  });

  test("read a profile's per-service endpoint_url when no AWS_ENDPOINT_URL_* variable is set", async () => {
    const dir = await import("../../test/helpers/cleanup.ts").then((m) => m.tempDir("credproxy-tunnel-config-"));
    const configFile = `${dir}/config`;
    await Bun.write(configFile, `[profile tun]\nservices = tun-local\n\n[services tun-local]\nec2 =\n  endpoint_url = ${moto.endpoint}\nssm =\n  endpoint_url = ${ssmFake.url}\n`);
    const key = { accessKeyId: moto.user.accessKeyId, secretAccessKey: moto.user.secretAccessKey };
    process.env.AWS_CONFIG_FILE = configFile;
    delete process.env.AWS_ENDPOINT_URL_EC2;
    delete process.env.AWS_ENDPOINT_URL_SSM;
    const viaProfile = await tunnelClients({ region: REGION, profile: "tun", credentials: async () => key });
    try {
      // Checked before any request, so a regression fails here instead of reaching for AWS.
      expect(await viaProfile.ec2.config.endpoint?.()).toMatchObject({ hostname: "127.0.0.1", port: moto.port });
      expect(await viaProfile.ssm.config.endpoint?.()).toMatchObject({ hostname: "127.0.0.1", port: Number(new URL(ssmFake.url).port) });
      const found = await findInstance({ instanceId: ids["bastion"]![0]!, ec2: viaProfile.ec2, ssm: viaProfile.ssm });
      expect(found.name).toBe("bastion-a");
    } finally {
      viaProfile.destroy();
      process.env.AWS_CONFIG_FILE = "/dev/null";
      process.env.AWS_ENDPOINT_URL_EC2 = moto.endpoint;
      process.env.AWS_ENDPOINT_URL_SSM = ssmFake.url;
    }
  });
});
