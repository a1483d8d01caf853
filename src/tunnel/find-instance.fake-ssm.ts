/**
 * Test helper: a tiny SSM endpoint on 127.0.0.1 that answers only DescribeInstanceInformation
 * over AWS JSON 1.1 (`X-Amz-Target: AmazonSSM.DescribeInstanceInformation`). moto 5.2 does not
 * implement that operation (it answers HTTP 500 with an HTML page), so the SSM-online check is
 * tested here against canned instance information, with EC2 still served by moto.
 */

export interface FakeInstanceInformation {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** PingStatus and agent facts by instance id; absent ids are "not managed". */
  readonly instances: Map<string, { pingStatus: string; agentVersion?: string; lastPing?: Date }>;
  /** Every request body received, parsed. */
  readonly requests: Record<string, unknown>[];
  /** When set, every call is answered with this AWS error type (status 400). */
  refuseWith: string | undefined;
  stop(): void;
}

const JSON_11 = "application/x-amz-json-1.1";

export function startFakeInstanceInformation(): FakeInstanceInformation {
  const fake: FakeInstanceInformation = {
    url: "",
    instances: new Map(),
    requests: [],
    refuseWith: undefined,
    stop: () => server.stop(true),
  };
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => answer(fake, request) });
  return Object.assign(fake, { url: `http://127.0.0.1:${server.port}` });
}

async function answer(fake: FakeInstanceInformation, request: Request): Promise<Response> {
  const authorization = request.headers.get("authorization") ?? "";
  if (!/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/ssm\/aws4_request/.test(authorization)) {
    return reply(400, { __type: "MissingAuthenticationTokenException", message: "no SigV4 Authorization for ssm" });
  }
  if (request.headers.get("x-amz-target") !== "AmazonSSM.DescribeInstanceInformation") {
    return reply(400, { __type: "UnknownOperationException", message: `this fake only answers DescribeInstanceInformation` });
  }
  const body = (await request.json()) as Record<string, unknown>;
  fake.requests.push(body);
  if (fake.refuseWith !== undefined) return reply(400, { __type: fake.refuseWith, message: `refused by the fake (${fake.refuseWith})` });
  const list = (wantedIds(body) ?? [...fake.instances.keys()]).flatMap((id) => {
    const info = fake.instances.get(id);
    if (info === undefined) return [];
    return [{ InstanceId: id, PingStatus: info.pingStatus, AgentVersion: info.agentVersion, LastPingDateTime: (info.lastPing ?? new Date()).getTime() / 1000, PlatformName: "Amazon Linux", PlatformType: "Linux", ResourceType: "EC2Instance" }];
  });
  return reply(200, { InstanceInformationList: list });
}

/** The ids of the `InstanceIds` filter; without one, every known instance. */
function wantedIds(body: Record<string, unknown>): string[] | undefined {
  const filters = Array.isArray(body["Filters"]) ? (body["Filters"] as { Key?: unknown; Values?: unknown }[]) : [];
  const ids = filters.find((f) => f.Key === "InstanceIds")?.Values;
  return Array.isArray(ids) ? (ids as string[]) : undefined;
}

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": JSON_11 } });
}
