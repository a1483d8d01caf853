/**
 * ec2:DescribeInstances reduced to what instance selection and its error messages need.
 * An id that does not exist comes back from EC2 as an error (InvalidInstanceID.NotFound or
 * .Malformed); here it is simply "nothing found", so callers decide what to say.
 */
import { DescribeInstancesCommand, type DescribeInstancesCommandInput, type EC2Client, type Instance } from "@aws-sdk/client-ec2";
import { errorCode } from "../credentials/_error-text";
import { awsCallError } from "./find-instance-errors";

/** One instance as the user would recognise it. */
export interface InstanceSummary {
  readonly instanceId: string;
  /** The `Name` tag, if any. */
  readonly name: string | undefined;
  /** pending, running, stopping, stopped, shutting-down, terminated. */
  readonly state: string;
  readonly privateIp: string | undefined;
}

/** Beyond this many matches the answer is "several" either way; no point paging further. */
const MAX_COLLECTED = 100;

const NOT_FOUND = new Set(["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"]);

/** Every instance matching `input`, following NextToken up to MAX_COLLECTED. */
export async function describeInstances(ec2: EC2Client, input: DescribeInstancesCommandInput, signal?: AbortSignal): Promise<InstanceSummary[]> {
  const found: InstanceSummary[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sendDescribe(ec2, { ...input, ...(nextToken ? { NextToken: nextToken } : {}) }, signal);
    if (page === undefined) return found;
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) found.push(summarise(instance));
    }
    nextToken = page.NextToken || undefined;
  } while (nextToken !== undefined && found.length < MAX_COLLECTED);
  return found;
}

/** One page, or undefined when EC2 says the requested id does not exist. */
async function sendDescribe(ec2: EC2Client, input: DescribeInstancesCommandInput, signal: AbortSignal | undefined) {
  try {
    return await ec2.send(new DescribeInstancesCommand(input), signal ? { abortSignal: signal } : {});
  } catch (error) {
    if (NOT_FOUND.has(errorCode(error) ?? "")) return undefined;
    throw await awsCallError("ec2:DescribeInstances", error, ec2.config.region);
  }
}

function summarise(instance: Instance): InstanceSummary {
  return {
    instanceId: instance.InstanceId ?? "(no id)",
    name: instance.Tags?.find((t) => t.Key === "Name")?.Value,
    state: instance.State?.Name ?? "unknown",
    privateIp: instance.PrivateIpAddress,
  };
}
