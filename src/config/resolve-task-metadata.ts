/**
 * Fills in `server.task_metadata` (task-metadata-schema.ts): every value the config leaves out
 * gets a default derived from the rest of the config, so the same config gives the same task
 * and container IDs on every start (apps and compose files can name the URI up front).
 */
import { createHash } from "node:crypto";
import type { ServiceSpec, TaskMetadataConfig } from "./types.ts";

export interface RawTaskMetadata {
  readonly cluster?: string;
  readonly task_arn?: string;
  readonly family?: string;
  readonly revision?: string;
  readonly service_name?: string;
  readonly launch_type: "EC2" | "FARGATE" | "EXTERNAL";
  readonly availability_zone?: string;
  readonly container: {
    readonly name?: string;
    readonly id?: string;
    readonly image?: string;
    readonly image_id?: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly limits: { readonly cpu: number; readonly memory: number };
    readonly log_group?: string;
  };
}

/** The region and account a generated task ARN uses when the config names none. */
const FALLBACK = { region: "us-east-1", account: "123456789012" } as const;

export function resolveTaskMetadata(
  raw: boolean | RawTaskMetadata,
  defaults: { region?: string | undefined; services: readonly ServiceSpec[] },
): TaskMetadataConfig | undefined {
  if (raw === false) return undefined;
  const given: Partial<RawTaskMetadata> = raw === true ? {} : raw;
  const cluster = given.cluster ?? "credproxy-local";
  const family = given.family ?? "credproxy-local";
  const taskArn = given.task_arn ?? generatedTaskArn(cluster, family, defaults);
  const [, , , region = FALLBACK.region, account = FALLBACK.account] = taskArn.split(":");
  const clusterName = cluster.startsWith("arn:") ? cluster.slice(cluster.lastIndexOf("/") + 1) : cluster;
  const container = given.container;
  const name = container?.name ?? "app";
  return {
    clusterArn: cluster.startsWith("arn:") ? cluster : `arn:aws:ecs:${region}:${account}:cluster/${clusterName}`,
    clusterName,
    taskArn,
    family,
    revision: given.revision ?? "1",
    serviceName: given.service_name,
    launchType: given.launch_type ?? "EC2",
    availabilityZone: given.availability_zone ?? `${region}a`,
    region,
    account,
    container: {
      name,
      id: container?.id ?? hex(`${taskArn}/${name}`, 64),
      image: container?.image ?? "credproxy-local/app:latest",
      imageId: container?.image_id,
      labels: { ...(container?.labels ?? {}) },
      limits: { cpu: container?.limits.cpu ?? 0, memory: container?.limits.memory ?? 0 },
      logGroup: container?.log_group,
    },
  };
}

function generatedTaskArn(cluster: string, family: string, defaults: { region?: string | undefined; services: readonly ServiceSpec[] }): string {
  const region = defaults.region ?? defaults.services[0]?.region ?? FALLBACK.region;
  const account = /^arn:[\w-]+:iam::(\d{12}):/.exec(defaults.services[0]?.assumeRole.RoleArn ?? "")?.[1] ?? FALLBACK.account;
  const clusterName = cluster.startsWith("arn:") ? cluster.slice(cluster.lastIndexOf("/") + 1) : cluster;
  return `arn:aws:ecs:${region}:${account}:task/${clusterName}/${hex(`${clusterName}/${family}`, 32)}`;
}

/** A stable ID: the first `length` hex digits of SHA-256 over `seed`. */
function hex(seed: string, length: number): string {
  return createHash("sha256").update(seed).digest("hex").slice(0, length);
}
