/**
 * The SSM-online check: a Session Manager session can only start when the instance's SSM agent
 * is registered and checking in, which ssm:DescribeInstanceInformation reports as PingStatus
 * Online. Asking first turns StartSession's bare TargetNotConnected into a message that says
 * which of the usual setup steps is missing.
 */
import { DescribeInstanceInformationCommand, type InstanceInformation, type SSMClient } from "@aws-sdk/client-ssm";
import { errorCode } from "../credentials/_error-text";
import type { InstanceSummary } from "./find-instance-describe";
import { awsCallError, notManaged, notOnline } from "./find-instance-errors";

/** What Systems Manager knows about an online instance that the session needs. */
export interface ManagedInstance {
  /** The SSM agent's version: the Port plugin picks basic or mux framing from it. */
  readonly agentVersion: string | undefined;
  readonly platformName: string | undefined;
}

/** Resolves when the instance is Online in Systems Manager; throws a CredproxyError with a hint otherwise. */
export async function requireSsmOnline(ssm: SSMClient, instance: InstanceSummary, region: string, signal?: AbortSignal): Promise<ManagedInstance> {
  const info = await describeInformation(ssm, instance.instanceId, signal);
  if (info === undefined) throw notManaged(instance, region);
  if (info.PingStatus !== "Online") throw notOnline(instance, region, info.PingStatus ?? "unknown", info.LastPingDateTime);
  return { agentVersion: info.AgentVersion, platformName: info.PlatformName };
}

async function describeInformation(ssm: SSMClient, instanceId: string, signal: AbortSignal | undefined): Promise<InstanceInformation | undefined> {
  const command = new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [instanceId] }] });
  try {
    const out = await ssm.send(command, signal ? { abortSignal: signal } : {});
    return out.InstanceInformationList?.find((i) => i.InstanceId === instanceId);
  } catch (error) {
    // The API documents InvalidInstanceId for a node that is not (or no longer) managed.
    if (errorCode(error) === "InvalidInstanceId") return undefined;
    throw await awsCallError("ssm:DescribeInstanceInformation", error, ssm.config.region);
  }
}
