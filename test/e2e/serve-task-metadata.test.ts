/**
 * `server.task_metadata`: the ECS task metadata endpoint (v4, v3) as a real consumer reads it.
 * The consumer is OpenTelemetry's ECS resource detector (@opentelemetry/resource-detector-aws),
 * run by Node with ECS_CONTAINER_METADATA_URI_V4 pointing at the compiled binary.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO_ROOT, runCredproxy, tempDir } from "../helpers/binary.ts";
import { startServe } from "./serve-fixture.ts";

const ROLE = "arn:aws:iam::210987654321:role/app";
const TOKEN = "9d2f6a1c8e4b7035f1a2c9e8d4b6a7f3";
const CONFIGURED = `
aws_defaults: {region: eu-west-1}
server:
  port: {{port}}
  task_metadata:
    cluster: demo
    family: web
    revision: "7"
    launch_type: FARGATE
    availability_zone: eu-west-1b
    container: {name: api, log_group: /ecs/web, labels: {team: core}, limits: {cpu: 256, memory: 512}}
services:
  app:
    auth_token: ${TOKEN}
    assumed_role: {RoleArn: "${ROLE}"}
`;

/** The detector's attributes, as resolved by the real package under Node. */
async function detect(uri: string): Promise<Record<string, unknown>> {
  const proc = Bun.spawn(["node", join(REPO_ROOT, "test/helpers/otel-ecs-detector.mjs")], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ECS_CONTAINER_METADATA_URI_V4: uri },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  return JSON.parse(out) as Record<string, unknown>;
}

async function uriOf(serve: Awaited<ReturnType<typeof startServe>>): Promise<string> {
  const record = await serve.proc.waitForLog((r) => typeof r.task_metadata_uri_v4 === "string");
  return record.task_metadata_uri_v4 as string;
}

describe("ECS task metadata (server.task_metadata)", () => {
  test("OpenTelemetry's ECS detector reports the configured cluster, task, container and logs", async () => {
    const serve = await startServe(CONFIGURED);
    try {
      const uri = await uriOf(serve);
      expect(uri).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${serve.port}/v4/[0-9a-f]{64}$`));
      const attributes = await detect(uri);
      const taskArn = attributes["aws.ecs.task.arn"] as string;
      expect(taskArn).toMatch(/^arn:aws:ecs:eu-west-1:210987654321:task\/demo\/[0-9a-f]{32}$/);
      expect(attributes).toMatchObject({
        "cloud.provider": "aws",
        "cloud.platform": "aws_ecs",
        "cloud.region": "eu-west-1",
        "cloud.account.id": "210987654321",
        "cloud.availability_zone": "eu-west-1b",
        "aws.ecs.cluster.arn": "arn:aws:ecs:eu-west-1:210987654321:cluster/demo",
        "aws.ecs.launchtype": "fargate",
        "aws.ecs.task.family": "web",
        "aws.ecs.task.revision": "7",
        "aws.log.group.names": ["/ecs/web"],
      });
      expect(attributes["aws.ecs.container.arn"]).toMatch(/^arn:aws:ecs:eu-west-1:210987654321:container\/demo\//);
    } finally {
      await serve.proc.kill();
    }
  });

  test("container, task and both stats routes answer under v4 and v3, v3 without the v4-only fields", async () => {
    const serve = await startServe(CONFIGURED);
    try {
      const v4 = await uriOf(serve);
      const v3 = v4.replace("/v4/", "/v3/");
      const id = v4.slice(v4.lastIndexOf("/") + 1);
      const get = async (url: string) => {
        const res = await fetch(url);
        expect({ url, status: res.status }).toEqual({ url, status: 200 });
        return (await res.json()) as Record<string, any>;
      };
      const container = await get(v4);
      expect(container).toMatchObject({ DockerId: id, Name: "api", Limits: { CPU: 256, Memory: 512 }, LogDriver: "awslogs", KnownStatus: "RUNNING" });
      expect(container.Labels).toMatchObject({ team: "core", "com.amazonaws.ecs.container-name": "api", "com.amazonaws.ecs.task-definition-version": "7" });
      const task = await get(`${v4}/task`);
      expect(task).toMatchObject({ Family: "web", Revision: "7", LaunchType: "FARGATE", Limits: { CPU: 0.25, Memory: 512 } });
      expect(task.Containers).toEqual([container]);
      const stats = await get(`${v4}/stats`);
      expect(stats.id).toBe(id);
      expect(stats.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(0);
      expect(stats.memory_stats.limit).toBe(512 * 1024 * 1024);
      expect(Object.keys(await get(`${v4}/task/stats`))).toEqual([id]);

      const old = await get(v3);
      expect(old.DockerId).toBe(id);
      expect(old).not.toHaveProperty("ContainerARN");
      expect(old).not.toHaveProperty("LogDriver");
      expect(await get(`${v3}/task`)).not.toHaveProperty("LaunchType");
      expect((await fetch(serve.url(`/v4/${"0".repeat(64)}`))).status).toBe(404);
    } finally {
      await serve.proc.kill();
    }
  });

  test("--task-metadata turns it on with generated values that are the same on every start", async () => {
    const plain = `aws_defaults: {region: us-west-2}\nserver: {port: {{port}}}\nservices:\n  app: {auth_token: ${TOKEN}, assumed_role: {RoleArn: "${ROLE}"}}\n`;
    const uris: string[] = [];
    for (let run = 0; run < 2; run++) {
      const serve = await startServe(plain, { args: ["--task-metadata"] });
      try {
        const uri = await uriOf(serve);
        uris.push(uri.replace(`:${serve.port}/`, ":PORT/"));
        const attributes = await detect(uri);
        expect(attributes).toMatchObject({ "cloud.region": "us-west-2", "cloud.account.id": "210987654321", "aws.ecs.task.family": "credproxy-local", "aws.ecs.launchtype": "ec2" });
      } finally {
        await serve.proc.kill();
      }
    }
    expect(uris[0]).toBe(uris[1]!);
  });

  test("validate prints the URI to give the app, and refuses a malformed task ARN at its line", async () => {
    const dir = await tempDir("credproxy-task-metadata-");
    await Bun.write(join(dir, "good.yaml"), CONFIGURED.replace("{{port}}", "1338"));
    const ok = await runCredproxy(["validate", join(dir, "good.yaml")]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/task metadata: ECS_CONTAINER_METADATA_URI_V4=http:\/\/127\.0\.0\.1:1338\/v4\/[0-9a-f]{64}/);
    await Bun.write(join(dir, "bad.yaml"), CONFIGURED.replace("cluster: demo", "task_arn: arn:aws:ecs:eu-west-1:1:task/x").replace("{{port}}", "1338"));
    const r = await runCredproxy(["validate", join(dir, "bad.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:\d+:\d+: server\.task_metadata\.task_arn: must be an ECS task ARN/);
  });
});
