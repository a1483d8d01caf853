/**
 * Instance discovery for `credproxy tunnel up`: the one running EC2 instance the tunnel goes
 * through, picked by `--instance-id` or by `--tag KEY=VALUE` options, and proven reachable by
 * Session Manager before any session is started.
 *
 * By tags, EC2 is asked only for running instances (Filters tag:K=V and instance-state-name);
 * when none runs, a second call without the state filter finds the matching ones in other states
 * so the error can name them. Tag values are passed to EC2 as given, so `*` and `?` act as EC2's
 * wildcards.
 */
import type { EC2Client, Filter } from "@aws-sdk/client-ec2";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { CredproxyError } from "../errors";
import { describeInstances, type InstanceSummary } from "./find-instance-describe";
import { DISCOVERY_ERROR, noInstanceWithId, noRunningMatch, notRunning, severalMatches } from "./find-instance-errors";
import { requireSsmOnline, type ManagedInstance } from "./find-instance-ssm";

export interface FindInstanceOptions {
  /** Exactly one of `instanceId` and a non-empty `tags`. */
  readonly instanceId?: string | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  readonly signal?: AbortSignal | undefined;
}

export type FoundInstance = InstanceSummary & ManagedInstance;

export type { InstanceSummary, ManagedInstance };

/** The one running, SSM-online instance selected; a CredproxyError naming what was found otherwise. */
export async function findInstance(options: FindInstanceOptions): Promise<FoundInstance> {
  const region = await options.ec2.config.region();
  const instance = await selectRunning(options, region);
  const managed = await requireSsmOnline(options.ssm, instance, region, options.signal);
  return { ...instance, ...managed };
}

async function selectRunning(options: FindInstanceOptions, region: string): Promise<InstanceSummary> {
  const tags = options.tags !== undefined && Object.keys(options.tags).length > 0 ? options.tags : undefined;
  if (options.instanceId !== undefined && tags !== undefined) {
    throw new CredproxyError(DISCOVERY_ERROR, "give either an instance id or tags, not both", { hint: "Use --instance-id ID or one or more --tag KEY=VALUE" });
  }
  if (options.instanceId !== undefined) return byId(options, options.instanceId, region);
  if (tags !== undefined) return byTags(options, tags, region);
  throw new CredproxyError(DISCOVERY_ERROR, "no instance selected", { hint: "Use --instance-id ID or one or more --tag KEY=VALUE" });
}

async function byId(options: FindInstanceOptions, instanceId: string, region: string): Promise<InstanceSummary> {
  const [instance] = await describeInstances(options.ec2, { InstanceIds: [instanceId] }, options.signal);
  if (instance === undefined) throw noInstanceWithId(instanceId, region);
  if (instance.state !== "running") throw notRunning(instance, region);
  return instance;
}

async function byTags(options: FindInstanceOptions, tags: Readonly<Record<string, string>>, region: string): Promise<InstanceSummary> {
  const tagFilters: Filter[] = Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] }));
  const running = await describeInstances(options.ec2, { Filters: [...tagFilters, { Name: "instance-state-name", Values: ["running"] }] }, options.signal);
  if (running.length === 1) return running[0]!;
  if (running.length > 1) throw severalMatches(tags, running, region);
  const others = await describeInstances(options.ec2, { Filters: tagFilters }, options.signal);
  throw noRunningMatch(tags, others, region);
}
