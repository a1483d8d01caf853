/**
 * The permissions a tunnel needs, as `credproxy agent install` prints them.
 *
 * The client side (whoever runs `credproxy tunnel up`): StartSession on the instance and the
 * Port document; Resume/TerminateSession and ssmmessages:OpenDataChannel (required since the
 * signed WebSocket upgrade, plugin 1.2.764.0) on its own sessions only; and the two Describe
 * calls that find the instance and check it is online, which take no resource restriction.
 * No kms: a Port session never negotiates KMS encryption.
 */
export const INSTANCE_ROLE_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

/** A session id starts with the caller's user id, so this ARN means "sessions I started". */
const OWN_SESSIONS = "arn:aws:ssm:*:*:session/${aws:userid}-*";

export interface ClientPolicyOptions {
  /** The instance id, or undefined for every instance (then narrow it by hand). */
  readonly instanceId: string | undefined;
  /** Document names, AWS-owned (AWS-…) or the account's own. */
  readonly documents: readonly string[];
}

export function clientPolicy(options: ClientPolicyOptions): Record<string, unknown> {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "CredproxyTunnelStart",
        Effect: "Allow",
        Action: ["ssm:StartSession"],
        Resource: [`arn:aws:ec2:*:*:instance/${options.instanceId ?? "*"}`, ...options.documents.map(documentArn)],
      },
      {
        Sid: "CredproxyTunnelOwnSessions",
        Effect: "Allow",
        Action: ["ssm:ResumeSession", "ssm:TerminateSession", "ssmmessages:OpenDataChannel"],
        Resource: [OWN_SESSIONS],
      },
      {
        Sid: "CredproxyTunnelFindInstance",
        Effect: "Allow",
        Action: ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"],
        Resource: ["*"],
      },
    ],
  };
}

/** AWS-owned documents have no account in their ARN; the account's own have one (any, here). */
export function documentArn(name: string): string {
  return /^(AWS|Amazon)/.test(name) ? `arn:aws:ssm:*::document/${name}` : `arn:aws:ssm:*:*:document/${name}`;
}

/** What the instance's own role needs for Session Manager to reach it at all. */
export function instanceRoleNeeds(): string {
  return `its instance profile's role needs the AWS managed policy AmazonSSMManagedInstanceCore (${INSTANCE_ROLE_POLICY_ARN}: ssm:UpdateInstanceInformation, ssmmessages:CreateControlChannel, OpenControlChannel, CreateDataChannel, OpenDataChannel), and the SSM agent must run and reach the ssm and ssmmessages endpoints`;
}
