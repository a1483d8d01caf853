/**
 * `server.task_metadata`: the ECS task metadata endpoint (v4 and v3) served next to the
 * credentials, so that software which reads ECS_CONTAINER_METADATA_URI_V4 (OpenTelemetry's ECS
 * resource detector, logging libraries, agents) behaves locally as on ECS. Every value has a
 * generated default; what is set here is served as written. Not in upstream CredProxy.
 */

const text = (description: string) => ({ type: "string", minLength: 1, description }) as const;

export const taskMetadataSchema = {
  type: ["boolean", "object"],
  default: false,
  description:
    "credproxy extension: serve ECS task metadata (ECS_CONTAINER_METADATA_URI_V4 and _URI) at /v4/<container id> and /v3/<container id>, with /task, /stats and /task/stats, on the main port and on the ECS metadata address. true = every value generated.",
  "x-expected": "true, false, or {cluster: ..., container: {...}, ...}",
  additionalProperties: false,
  properties: {
    cluster: text("Cluster name or ARN. Default: credproxy-local."),
    task_arn: {
      type: "string",
      description: "Task ARN. Default: arn:aws:ecs:<region>:<account>:task/<cluster>/<id>, with the region of aws_defaults and the account of the first service's role.",
      pattern: "^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\\d{12}:task/[\\w-]+/[0-9a-f]{32}$",
      "x-expected": "an ECS task ARN such as arn:aws:ecs:us-east-1:123456789012:task/my-cluster/0123456789abcdef0123456789abcdef",
    },
    family: text("Task definition family. Default: credproxy-local."),
    revision: { type: "string", pattern: "^\\d+$", description: "Task definition revision (a number, served as a string as ECS does). Default: 1.", "x-expected": "a number such as 1" },
    service_name: text("ECS service name (ServiceName). Default: none."),
    launch_type: { type: "string", enum: ["EC2", "FARGATE", "EXTERNAL"], default: "EC2", description: "LaunchType." },
    availability_zone: { type: "string", pattern: "^[a-z]{2}(-[a-z]+)+-\\d+[a-z]$", description: "AvailabilityZone. Default: the region of the task ARN plus a.", "x-expected": "a zone such as us-east-1a" },
    container: {
      type: "object",
      default: {},
      description: "The one container the endpoint describes: the app that reads it.",
      additionalProperties: false,
      properties: {
        name: text("Container name. Default: app."),
        id: {
          type: "string",
          pattern: "^[0-9a-f]{64}$",
          description: "Docker ID, also the last segment of the metadata URI. Default: derived from the task ARN and name, so it is the same on every start.",
          "x-expected": "64 lower-case hex digits",
        },
        image: text("Image. Default: credproxy-local/app:latest."),
        image_id: { type: "string", pattern: "^sha256:[0-9a-f]{64}$", description: "ImageID. Default: none.", "x-expected": "sha256: and 64 hex digits" },
        labels: { type: "object", additionalProperties: { type: "string" }, default: {}, description: "Docker labels, added to the com.amazonaws.ecs.* ones ECS sets." },
        limits: {
          type: "object",
          default: {},
          additionalProperties: false,
          description: "Limits: CPU units and memory in MiB.",
          properties: {
            cpu: { type: "number", minimum: 0, default: 0, description: "CPU units (1024 = one vCPU)." },
            memory: { type: "integer", minimum: 0, default: 0, description: "Memory in MiB." },
          },
        },
        log_group: text("CloudWatch log group: with it, LogDriver is awslogs and LogOptions name the group, region and stream. Default: none."),
      },
    },
  },
} as const;
