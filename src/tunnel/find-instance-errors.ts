/**
 * The errors instance discovery raises. Each says what was asked, lists what was found (id,
 * Name tag, state, private IP) so the user can fix the selection without the console, and
 * hints at the next step.
 *
 * Code: errors.ts has no tunnel code yet, so a selection that does not pick exactly one
 * usable instance is ConfigInvalid (the --instance-id/--tag settings are what is wrong); it is
 * named once here so a dedicated code is a one-line change.
 */
import { CredproxyError, ErrorCode } from "../errors";
import { errorCode, errorText } from "../credentials/_error-text";
import type { InstanceSummary } from "./find-instance-describe";

export const DISCOVERY_ERROR = ErrorCode.ConfigInvalid;

/** At most this many instances are listed in one message. */
const MAX_LISTED = 10;

type Tags = Readonly<Record<string, string>>;

/** `i-0abc "bastion" running 10.0.1.5`, one per line, indented, with a count of the rest. */
export function listInstances(instances: readonly InstanceSummary[]): string {
  const lines = instances.slice(0, MAX_LISTED).map((i) => `  ${i.instanceId} ${i.name === undefined ? "(no Name tag)" : JSON.stringify(i.name)} ${i.state} ${i.privateIp ?? "(no private IP)"}`);
  if (instances.length > MAX_LISTED) lines.push(`  … and ${instances.length - MAX_LISTED} more`);
  return lines.join("\n");
}

export function describeTags(tags: Tags): string {
  return Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(", ");
}

function details(region: string, instances: readonly InstanceSummary[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { region, instances: instances.map((i) => ({ ...i })), ...extra };
}

export function noInstanceWithId(instanceId: string, region: string): CredproxyError {
  return new CredproxyError(DISCOVERY_ERROR, `no instance ${instanceId} in ${region}`, {
    hint: "Check the instance id, the region (--region) and that the credentials are for the instance's account",
    details: details(region, [], { instanceId }),
  });
}

export function notRunning(instance: InstanceSummary, region: string): CredproxyError {
  return new CredproxyError(DISCOVERY_ERROR, `instance ${instance.instanceId} in ${region} is ${instance.state}, not running:\n${listInstances([instance])}`, {
    hint: `Start it (aws ec2 start-instances --instance-ids ${instance.instanceId}) or pick a running instance`,
    details: details(region, [instance], { instanceId: instance.instanceId }),
  });
}

/** No running instance carries the tags; `others` are the matching ones in other states. */
export function noRunningMatch(tags: Tags, others: readonly InstanceSummary[], region: string): CredproxyError {
  const asked = `no running instance with tags ${describeTags(tags)} in ${region}`;
  if (others.length === 0) {
    return new CredproxyError(DISCOVERY_ERROR, `${asked}, and none in any other state`, {
      hint: "Check the tag keys and values (both case-sensitive) and the region (--region)",
      details: details(region, [], { tags }),
    });
  }
  return new CredproxyError(DISCOVERY_ERROR, `${asked}; found ${others.length} not running:\n${listInstances(others)}`, {
    hint: "Start one of them, or change the --tag options to match a running instance",
    details: details(region, others, { tags }),
  });
}

export function severalMatches(tags: Tags, matches: readonly InstanceSummary[], region: string): CredproxyError {
  const count = matches.length >= 100 ? "100 or more" : String(matches.length);
  return new CredproxyError(DISCOVERY_ERROR, `${count} running instances have tags ${describeTags(tags)} in ${region}; a tunnel needs exactly one:\n${listInstances(matches)}`, {
    hint: "Add --tag options until only one instance matches, or pass --instance-id with one of the ids above",
    details: details(region, matches, { tags }),
  });
}

const SSM_SETUP_HINT =
  "Install and start the SSM agent on the instance, attach an instance profile with the AmazonSSMManagedInstanceCore policy, " +
  "and give the instance a way to reach Systems Manager (internet or NAT, or the ssm, ssmmessages and ec2messages VPC endpoints)";

export function notManaged(instance: InstanceSummary, region: string): CredproxyError {
  return new CredproxyError(DISCOVERY_ERROR, `instance ${instance.instanceId} in ${region} is not managed by Systems Manager (ssm:DescribeInstanceInformation does not list it)`, {
    hint: SSM_SETUP_HINT,
    details: details(region, [instance], { instanceId: instance.instanceId }),
  });
}

export function notOnline(instance: InstanceSummary, region: string, pingStatus: string, lastPing: Date | undefined): CredproxyError {
  const since = lastPing ? `; its agent last checked in at ${lastPing.toISOString()}` : "";
  return new CredproxyError(DISCOVERY_ERROR, `instance ${instance.instanceId} in ${region} is known to Systems Manager but its PingStatus is ${pingStatus}, not Online${since}`, {
    hint: "Check that the SSM agent is running (systemctl status amazon-ssm-agent) and can still reach the ssm, ssmmessages and ec2messages endpoints",
    details: details(region, [instance], { instanceId: instance.instanceId, pingStatus }),
  });
}

const DENIED = new Set(["UnauthorizedOperation", "AccessDenied", "AccessDeniedException"]);
const BAD_CREDENTIALS = new Set(["AuthFailure", "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch", "InvalidSignatureException"]);

/** An AWS call that failed for a reason other than "no such instance". */
export async function awsCallError(operation: string, error: unknown, region: () => Promise<string>): Promise<CredproxyError> {
  if (error instanceof CredproxyError) return error;
  const code = errorCode(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const where = await region().catch(() => "(unknown region)");
  const service = operation.split(":")[0]!.toUpperCase();
  return new CredproxyError(DISCOVERY_ERROR, `${operation} in ${where} failed: ${errorText(error)}${code ? ` (${code})` : ""}`, {
    hint: hintFor(operation, service, code, status),
    cause: error,
    details: { region: where, operation, ...(code ? { awsCode: code } : {}), ...(status ? { httpStatus: status } : {}) },
  });
}

function hintFor(operation: string, service: string, code: string | undefined, status: number | undefined): string {
  if (code !== undefined && DENIED.has(code)) return `Allow ${operation} for these credentials (IAM policy of the user or role)`;
  if (code !== undefined && BAD_CREDENTIALS.has(code)) return "Check the source credentials (--profile, AWS_PROFILE, SSO login) are valid and not expired";
  if (status === undefined) return `Check that the ${service} endpoint is reachable (network, DNS, AWS_ENDPOINT_URL_${service})`;
  return `Check that the ${service} endpoint (AWS_ENDPOINT_URL_${service}, endpoint_url) points at ${service} and is healthy`;
}
