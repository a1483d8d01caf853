/**
 * ec2:DescribeInstances and nothing else, for tunnel tests that run inside namespaces where
 * moto is not at hand: a fixed set of instances, filtered by InstanceId.N and by
 * Filter.N (tag:KEY and instance-state-name), answered in EC2's query-protocol XML. An unknown
 * id is InvalidInstanceID.NotFound, as EC2 says it.
 */
export interface FakeEc2Instance {
  readonly id: string;
  readonly state?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface FakeEc2 {
  readonly url: string;
  readonly calls: string[];
  stop(): void;
}

export function startFakeEc2(instances: readonly FakeEc2Instance[], options: { hostname?: string; port?: number } = {}): FakeEc2 {
  const calls: string[] = [];
  const server = Bun.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    async fetch(request) {
      const form = new URLSearchParams(await request.text());
      calls.push(form.get("Action") ?? "");
      if (form.get("Action") !== "DescribeInstances") return error(400, "InvalidAction", `unsupported action ${form.get("Action")}`);
      const ids = [...form.entries()].filter(([k]) => /^InstanceId\.\d+$/.test(k)).map(([, v]) => v);
      const filters: { name: string; values: string[] }[] = [];
      for (let n = 1; form.has(`Filter.${n}.Name`); n++) {
        const values = [...form.entries()].filter(([k]) => k.startsWith(`Filter.${n}.Value.`)).map(([, v]) => v);
        filters.push({ name: form.get(`Filter.${n}.Name`)!, values });
      }
      const missing = ids.find((id) => !instances.some((i) => i.id === id));
      if (missing !== undefined) return error(400, "InvalidInstanceID.NotFound", `The instance ID '${missing}' does not exist`);
      const matching = instances.filter(
        (i) =>
          (ids.length === 0 || ids.includes(i.id)) &&
          filters.every((f) => (f.name === "instance-state-name" ? f.values.includes(i.state ?? "running") : f.name.startsWith("tag:") ? f.values.includes(i.tags?.[f.name.slice(4)] ?? "\u0000") : true)),
      );
      const items = matching.map((i) => {
        const tags = Object.entries(i.tags ?? {}).map(([k, v]) => `<item><key>${k}</key><value>${v}</value></item>`).join("");
        return `<item><reservationId>r-${i.id.slice(2)}</reservationId><instancesSet><item><instanceId>${i.id}</instanceId><instanceState><code>16</code><name>${i.state ?? "running"}</name></instanceState><tagSet>${tags}</tagSet></item></instancesSet></item>`;
      });
      return xml(200, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fake-ec2</requestId><reservationSet>${items.join("")}</reservationSet></DescribeInstancesResponse>`);
    },
  });
  return { url: `http://${server.hostname}:${server.port}`, calls, stop: () => void server.stop(true) };
}

function xml(status: number, body: string): Response {
  return new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`, { status, headers: { "content-type": "text/xml" } });
}

function error(status: number, code: string, message: string): Response {
  return xml(status, `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>fake-ec2</RequestID></Response>`);
}
