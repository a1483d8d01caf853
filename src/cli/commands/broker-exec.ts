import { createBrokerCredentials } from "../../broker/broker-credentials.ts";
import { runExec } from "../../broker/exec/exec.ts";
import type { CredproxyError } from "../../errors.ts";
import type { BrokerConfig } from "../../config/load-broker-config.ts";
import { createLogger } from "../../log.ts";
import { logOutput, logOutputHelp } from "../log-output.ts";
import { parseCommandArgs, type OptionSpec } from "../args.ts";
import {
  ALLOW_ROLE_FLAG,
  BROKER_SOURCE_FLAGS,
  STS_ENDPOINT_NOTE,
  brokerLogLevelHelp,
  brokerSourceFlagsHelp,
  brokerSourceSettings,
  brokerUsageError,
  type BrokerSourceSettings,
} from "../broker-settings.ts";
import { startImds, type RunningImds } from "../../broker/imds/start-imds.ts";
import { imdsListenSettings } from "./broker-imds.ts";
import type { Command } from "./index.ts";
import { exitOnUnhandledStopSignal } from "../signals.ts";

const USAGE = `Usage: credproxy broker exec [--role-arn ARN] [options] -- COMMAND [ARGS...]

Runs COMMAND with short-lived credentials for one IAM role (or, without --role-arn, a
short-lived session of the source identity), served to it (and to every
process it starts) from a loopback endpoint through AWS_CONTAINER_CREDENTIALS_FULL_URI and
AWS_CONTAINER_AUTHORIZATION_TOKEN. The token is random per run and given to COMMAND's
environment only. Credentials are fetched before COMMAND starts and refreshed ahead of expiry,
and every process COMMAND starts shares them; the endpoint closes when COMMAND exits.
Long-lived keys never reach COMMAND: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE and
the other variables that would outrank the endpoint are removed from its environment.

The broker's own (source) credentials come from --profile, else the AWS SDK default chain
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, SSO, ...). Without --role-arn,
temporary source credentials (SSO, a role_arn profile, credential_process with an expiry) are
served as they are, and long-term keys are exchanged for an sts:GetSessionToken session first.

MFA: when the source profile has mfa_serial (in $AWS_CONFIG_FILE or ~/.aws/config), or
--mfa-serial is given, credproxy starts one sts:GetSessionToken session with an MFA code (12 h
with --role-arn, --duration without) and uses it as the source. The code comes from
--mfa-token, else a prompt on the terminal; without a terminal a new session cannot be started
once that one expires.

Options:
${brokerSourceFlagsHelp(22, true, {
  "--role-arn ARN": "The role COMMAND gets. Default: a session of the source identity",
  "--region REGION": "Region for STS and for COMMAND (AWS_REGION, AWS_DEFAULT_REGION).\nDefault: region in the broker config, else $AWS_REGION, else\n$AWS_DEFAULT_REGION, else us-east-1",
})}
      --isolate-shared-files Give COMMAND AWS_SHARED_CREDENTIALS_FILE=/dev/null and
                             AWS_CONFIG_FILE=/dev/null, so profiles in ~/.aws cannot take
                             precedence over the endpoint (credproxy warns when they would).
                             --no-isolate-shared-files overrides exec.isolate_shared_files
      --imds                 Serve COMMAND through EC2 instance metadata (IMDSv2) instead of the
                             container endpoint, for tools that only look there: on
                             169.254.169.254:80 when credproxy may add that address to lo
                             (Linux: CAP_NET_ADMIN; macOS: root), else on 127.0.0.1 with
                             AWS_EC2_METADATA_SERVICE_ENDPOINT set for COMMAND
${brokerLogLevelHelp(22, "warn")}
${logOutputHelp(22, "text")}
  -h, --help                 Show this help

${STS_ENDPOINT_NOTE}
Exit status: COMMAND's, or 128 + N if signal N ended it; 1 if the role cannot be assumed,
2 for usage errors, 126/127 if COMMAND cannot be run. SIGINT, SIGTERM, SIGHUP, SIGQUIT,
SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGIO and SIGWINCH are forwarded to
COMMAND, except a Ctrl-C or Ctrl-\\ typed at the terminal, which COMMAND has already received.

Examples:
  credproxy broker exec --profile dev -- aws s3 ls
  credproxy broker exec --role-arn arn:aws:iam::123456789012:role/deploy -- terraform apply
  credproxy broker exec --profile admin --role-arn arn:aws:iam::123456789012:role/ro -- aws s3 ls
  credproxy broker exec --role-arn arn:aws:iam::123456789012:role/ci \\
      --allow-role 'arn:aws:iam::123456789012:role/ci-*' --duration 7200 -- make deploy`;

/** The parsed command line, validated before anything is started. */
export interface BrokerExecInput extends BrokerSourceSettings {
  readonly isolateSharedFiles: boolean;
  /** Where IMDS listens with --imds: the config's imds block, else 169.254.169.254:80. */
  readonly imds: false | { readonly address: string; readonly port: number; readonly imdsV1: boolean };
  readonly logFormat: "text" | "json";
  readonly command: readonly string[];
}

const FLAGS = {
  ...BROKER_SOURCE_FLAGS,
  ...ALLOW_ROLE_FLAG,
  "isolate-shared-files": { type: "boolean" },
  imds: { type: "boolean" },
} as const satisfies OptionSpec;

export const brokerExecCommand: Command = {
  name: "exec",
  summary: "Run a command with role credentials from a private loopback endpoint",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const input = validateInput(argv, process.env);
    const logger = createLogger({
      level: input.logLevel,
      format: input.logFormat === "json" ? "json" : "dev",
      // Shares stderr with the command: say whose line it is.
      ...(input.logFormat === "text" ? { write: (line: string) => void process.stderr.write(`credproxy: ${line}\n`) } : {}),
    });
    // The command's environment is taken before credproxy changes its own (below).
    const parentEnv = { ...process.env };
    // Once credproxy serves IMDS, its own default chain must not ask that IMDS (itself) for
    // source credentials: switch IMDS off for credproxy's process only.
    if (input.imds && process.env.AWS_EC2_METADATA_DISABLED === undefined) process.env.AWS_EC2_METADATA_DISABLED = "true";
    const credentials = createBrokerCredentials({
      firstFailureIsFatal: true, // the command never starts then, and the error is printed once, below
      profile: input.profile,
      roleArn: input.roleArn,
      mfaSerial: input.mfaSerial,
      mfaToken: input.mfaToken,
      durationSeconds: input.durationSeconds,
      region: input.region,
      stsEndpoint: input.stsEndpoint,
      allowRoles: input.allowRoles,
      logger,
    });
    let imds: RunningImds | undefined;
    // With --imds, a signal before the command starts (or after it ended) must still remove the address.
    const release = input.imds ? exitOnUnhandledStopSignal() : () => {};
    try {
      if (input.imds) {
        const first = await credentials.base.get(); // fail before binding anything if the role cannot be assumed
        // Without --role-arn IMDS shows the role name "credproxy" in the source's account.
        const roleArn = input.roleArn ?? `arn:${first.roleArn.split(":")[1] ?? "aws"}:iam::${first.accountId}:role/credproxy`;
        imds = await startImds({ ...input.imds, credentials: credentials.base, roleArn, region: input.region, logger });
      }
      return await runExec({
        command: input.command,
        credentials,
        region: input.region,
        isolateSharedFiles: input.isolateSharedFiles,
        imdsEnv: imds?.childEnv,
        env: parentEnv,
        logger,
      });
    } finally {
      await imds?.stop();
      credentials.stop();
      release();
    }
  },
};

/** Parses and checks the whole command line; throws a usage error (exit 2) naming the fix. */
export function validateInput(argv: readonly string[], env: NodeJS.ProcessEnv, config?: BrokerConfig): BrokerExecInput {
  const split = argv.indexOf("--");
  const own = split === -1 ? argv : argv.slice(0, split);
  const command = split === -1 ? [] : argv.slice(split + 1);
  const { values, positionals } = parseCommandArgs("broker exec", own, FLAGS, { min: 0, max: Number.MAX_SAFE_INTEGER }, true);
  if (positionals.length > 0) {
    throw usage(`unexpected argument "${positionals[0]}" before "--"`, `put the command after --: credproxy broker exec --role-arn ARN -- ${positionals.join(" ")}`);
  }
  if (command.length === 0) {
    throw usage("missing the command to run", "put it after --, e.g. credproxy broker exec --role-arn ARN -- aws sts get-caller-identity");
  }
  const settings = brokerSourceSettings("exec", values, env, { defaultLogLevel: "warn", config });
  const logFormat = logOutput("broker exec", values, "text").format === "json" ? "json" : "text";

  return {
    ...settings,
    isolateSharedFiles: values["isolate-shared-files"] ?? settings.config.exec.isolateSharedFiles ?? false,
    // Never from the config: IMDS has no token, so it must be asked for on each command line.
    imds: values.imds === true ? imdsListenSettings({}, settings.config) : false,
    logFormat,
    command,
  };
}

function usage(message: string, hint: string): CredproxyError {
  return brokerUsageError("exec", message, hint);
}


