/**
 * The ECS task metadata endpoint, versions 4 and 3, in the shapes the ECS agent documents
 * ("Amazon ECS task metadata endpoint version 4"), with values from `server.task_metadata`:
 *
 *   ${ECS_CONTAINER_METADATA_URI_V4}              the container
 *   ${ECS_CONTAINER_METADATA_URI_V4}/task         the task, with its containers
 *   ${ECS_CONTAINER_METADATA_URI_V4}/stats        Docker stats of the container
 *   ${ECS_CONTAINER_METADATA_URI_V4}/task/stats   Docker stats by container ID
 *
 * and the same under /v3/ (ECS_CONTAINER_METADATA_URI) without the v4-only fields. There is no
 * container runtime to ask, so the stats describe credproxy's own process; their shape is
 * Docker's. The metadata holds nothing secret, and ECS serves it without a token; so does this.
 */
import type { TaskMetadataConfig } from "../config/types.ts";
import { json } from "../http/json.ts";
import type { Routes } from "../http/listen.ts";
import { containerStats } from "./task-metadata-stats.ts";

/** The two base paths an app is given: `/v4/<id>` and `/v3/<id>`. */
export function taskMetadataPaths(meta: TaskMetadataConfig): { v4: string; v3: string } {
  return { v4: `/v4/${meta.container.id}`, v3: `/v3/${meta.container.id}` };
}

/** The eight GET routes, built once; `startedAt` is when credproxy started (CreatedAt, StartedAt). */
export function taskMetadataRoutes(meta: TaskMetadataConfig, startedAt: Date): Routes {
  const routes: Routes = {};
  const paths = taskMetadataPaths(meta);
  for (const version of [4, 3] as const) {
    const base = version === 4 ? paths.v4 : paths.v3;
    const container = containerBody(meta, startedAt, version);
    const task = taskBody(meta, startedAt, version, container);
    const stats = () => containerStats(meta);
    routes[base] = { GET: () => json(container) };
    routes[`${base}/task`] = { GET: () => json(task) };
    routes[`${base}/stats`] = { GET: () => json(stats()) };
    routes[`${base}/task/stats`] = { GET: () => json({ [meta.container.id]: stats() }) };
  }
  return routes;
}

export function containerBody(meta: TaskMetadataConfig, startedAt: Date, version: 3 | 4): Record<string, unknown> {
  const c = meta.container;
  const taskId = meta.taskArn.slice(meta.taskArn.lastIndexOf("/") + 1);
  const time = startedAt.toISOString();
  const body: Record<string, unknown> = {
    DockerId: c.id,
    Name: c.name,
    DockerName: `ecs-${meta.family}-${meta.revision}-${c.name}-${c.id.slice(0, 20)}`,
    Image: c.image,
    ...(c.imageId ? { ImageID: c.imageId } : {}),
    Labels: {
      "com.amazonaws.ecs.cluster": meta.clusterArn,
      "com.amazonaws.ecs.container-name": c.name,
      "com.amazonaws.ecs.task-arn": meta.taskArn,
      "com.amazonaws.ecs.task-definition-family": meta.family,
      "com.amazonaws.ecs.task-definition-version": meta.revision,
      ...c.labels,
    },
    DesiredStatus: "RUNNING",
    KnownStatus: "RUNNING",
    Limits: { CPU: c.limits.cpu, Memory: c.limits.memory },
    CreatedAt: time,
    StartedAt: time,
    Type: "NORMAL",
    Networks: [{ NetworkMode: "host", IPv4Addresses: ["127.0.0.1"] }],
  };
  if (version === 3) return body;
  return {
    ...body,
    ContainerARN: `arn:aws:ecs:${meta.region}:${meta.account}:container/${meta.clusterName}/${taskId}/${uuidFrom(c.id)}`,
    ...(c.logGroup
      ? {
          LogDriver: "awslogs",
          LogOptions: { "awslogs-group": c.logGroup, "awslogs-region": meta.region, "awslogs-stream": `ecs/${c.name}/${taskId}` },
        }
      : {}),
  };
}

function taskBody(meta: TaskMetadataConfig, startedAt: Date, version: 3 | 4, container: Record<string, unknown>): Record<string, unknown> {
  const time = startedAt.toISOString();
  const body: Record<string, unknown> = {
    Cluster: meta.clusterArn,
    TaskARN: meta.taskArn,
    Family: meta.family,
    Revision: meta.revision,
    DesiredStatus: "RUNNING",
    KnownStatus: "RUNNING",
    Limits: { CPU: meta.container.limits.cpu / 1024, Memory: meta.container.limits.memory },
    PullStartedAt: time,
    PullStoppedAt: time,
    AvailabilityZone: meta.availabilityZone,
    Containers: [container],
  };
  if (version === 3) return body;
  return { ...body, ...(meta.serviceName ? { ServiceName: meta.serviceName } : {}), LaunchType: meta.launchType };
}

/** The container ID's first 32 hex digits as a UUID, the form ECS uses in container ARNs. */
function uuidFrom(id: string): string {
  return `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20, 32)}`;
}
