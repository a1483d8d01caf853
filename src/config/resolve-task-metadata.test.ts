import { describe, expect, test } from "bun:test";
import { load, minimal } from "./testing.ts";

const withTaskMetadata = (block: string) => load(minimal(`server:\n  task_metadata: ${block}\n`)).server.taskMetadata;

describe("server.task_metadata", () => {
  test("is off by default", () => {
    expect(load(minimal()).server.taskMetadata).toBeUndefined();
  });

  test("true generates every value from the rest of the config: region of aws_defaults, account of the first role", () => {
    const meta = withTaskMetadata("true")!;
    expect(meta.taskArn).toMatch(/^arn:aws:ecs:us-east-1:123456789012:task\/credproxy-local\/[0-9a-f]{32}$/);
    expect(meta).toMatchObject({ clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/credproxy-local", family: "credproxy-local", revision: "1", launchType: "EC2", availabilityZone: "us-east-1a" });
    expect(meta.container).toMatchObject({ name: "app", image: "credproxy-local/app:latest", limits: { cpu: 0, memory: 0 } });
    expect(meta.container.id).toMatch(/^[0-9a-f]{64}$/);
  });

  test("the generated IDs follow the values they are made from, and only those", () => {
    const a = withTaskMetadata("true")!;
    expect(withTaskMetadata("true")!.container.id).toBe(a.container.id);
    expect(withTaskMetadata("{container: {name: other}}")!.container.id).not.toBe(a.container.id);
    expect(withTaskMetadata("{family: other}")!.taskArn).not.toBe(a.taskArn);
  });

  test("a given task ARN decides region and account; a cluster ARN is kept as written", () => {
    const meta = withTaskMetadata(`{cluster: "arn:aws:ecs:ap-south-1:111122223333:cluster/prod", task_arn: "arn:aws:ecs:ap-south-1:111122223333:task/prod/0123456789abcdef0123456789abcdef"}`)!;
    expect(meta).toMatchObject({ region: "ap-south-1", account: "111122223333", clusterName: "prod", clusterArn: "arn:aws:ecs:ap-south-1:111122223333:cluster/prod", availabilityZone: "ap-south-1a" });
  });
});
