import { createBrokerCredentials, type BrokerCredentials } from "../../broker/broker-credentials.ts";
import { IMDS_ADDRESS, type ImdsCredentialSource } from "../../broker/imds/imds-server.ts";
import { startImds, type RunningImds } from "../../broker/imds/start-imds.ts";
import type { RoleCredentials } from "../../credentials/types.ts";
import { CredproxyError, ErrorCode } from "../../errors.ts";
import { logOutput, logOutputHelp } from "../log-output.ts";
import { createLogger, type Logger } from "../../log.ts";
import { formatAddress, parseAddress } from "../../net/loopback-address.ts";
import { parseCommandArgs, type OptionSpec } from "../args.ts";
import type { BrokerConfig } from "../../config/load-broker-config.ts";
import { BROKER_SOURCE_FLAGS, brokerLogLevelHelp, brokerSourceFlagsHelp, STS_ENDPOINT_NOTE, brokerSourceSettings, brokerUsageError, inConfig, type BrokerSourceSettings } from "../broker-settings.ts";
import type { Command } from "./index.ts";
import { firstSignal } from "../signals.ts";

const USAGE = `Usage: credproxy broker imds [--role-arn ARN] [options]

Serves the EC2 instance metadata service (IMDSv2) for one role, so that SDKs and tools with no
AWS configuration at all (boto3, the AWS CLI, the JS, Go and Java SDKs) get short-lived
credentials for it through their default chain.

It adds the address to the loopback interface and listens there on port 80 (Linux: through
netlink, needing CAP_NET_ADMIN and the right to bind port 80; macOS: ifconfig lo0 alias, needing
root). Without them it listens on 127.0.0.1 on a free port instead and prints the one line to
use, e.g.
  AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:41234/
The address is removed again when it stops (SIGTERM, SIGINT, SIGHUP, SIGQUIT and the other
catchable signals that would end it); one left behind by a killed run is removed by the next
run or by \`credproxy cleanup\`.

Options:
${brokerSourceFlagsHelp(18, false, {
  "--role-arn ARN": 'The role to serve. Default: the source\'s temporary credentials as\nthey are, or an sts:GetSessionToken session for long-term keys,\nshown in IMDS as the role "credproxy" in the source\'s account',
})}
      --address ADDR     The IMDS address to own. Default: imds.address in the config,
                         else ${IMDS_ADDRESS}
      --port PORT        Port on that address. Default: imds.port, else 80
      --imds-v1          Also answer requests without a session token (IMDSv1);
                         --no-imds-v1 overrides imds.v1: true in the config
${brokerLogLevelHelp(18, "info")}
${logOutputHelp(18, "json")}
  -h, --help             Show this help

${STS_ENDPOINT_NOTE}`;

export interface BrokerImdsInput extends BrokerSourceSettings {
  readonly logFormat: "json" | "dev";
  /** Canonical text. */
  readonly address: string;
  readonly port: number;
  readonly imdsV1: boolean;
}

const FLAGS = {
  ...BROKER_SOURCE_FLAGS,
  address: { type: "string" },
  port: { type: "string" },
  "imds-v1": { type: "boolean" },
} as const satisfies OptionSpec;

export const brokerImdsCommand: Command = {
  name: "imds",
  summary: "Serve one role on the EC2 metadata address (IMDSv2) for SDK default chains",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const input = validateInput(argv);
    const logger = createLogger({ level: input.logLevel, format: input.logFormat });
    const signal = firstSignal();

    // Late-bound: the credentials are created once we know where we listen (see selfLoopGuard).
    let broker: BrokerCredentials | undefined;
    let ready!: (b: BrokerCredentials) => void;
    const brokerReady = new Promise<BrokerCredentials>((resolve) => (ready = resolve));
    const credentials: ImdsCredentialSource = {
      get: async (): Promise<RoleCredentials> => (await brokerReady).base.get(),
      peek: () => broker?.base.peek(),
    };

    const brokerOptions = {
      roleArn: input.roleArn,
      profile: input.profile,
      mfaSerial: input.mfaSerial,
      mfaToken: input.mfaToken,
      region: input.region,
      durationSeconds: input.durationSeconds,
      stsEndpoint: input.stsEndpoint,
      sessionName: "credproxy-imds",
      logger,
    };
    let roleArn = input.roleArn;
    if (roleArn === undefined) {
      // No role: IMDS shows the role "credproxy" in the source's account, which only the first
      // fetch tells; it happens before IMDS listens, so the source chain cannot ask us.
      broker = createBrokerCredentials(brokerOptions);
      try {
        const first = await broker.base.get();
        roleArn = `arn:${first.roleArn.split(":")[1] ?? "aws"}:iam::${first.accountId}:role/credproxy`;
      } catch (error) {
        broker.stop();
        throw error;
      }
      ready(broker);
    }
    let imds: RunningImds;
    try {
      imds = await startImds({ ...input, roleArn, credentials, logger });
    } catch (error) {
      broker?.stop();
      throw error;
    }
    try {
      if (imds.onAlias) selfLoopGuard(logger);
      if (!broker) {
        broker = createBrokerCredentials(brokerOptions);
        ready(broker);
      }
    } catch (error) {
      broker?.stop();
      await imds.stop();
      throw error;
    }
    // The one stdout line, only when the SDK default would not find this server.
    if (imds.childEnv.AWS_EC2_METADATA_SERVICE_ENDPOINT !== undefined) {
      process.stdout.write(`AWS_EC2_METADATA_SERVICE_ENDPOINT=${imds.childEnv.AWS_EC2_METADATA_SERVICE_ENDPOINT}\n`);
    }
    logger.info("credproxy broker imds listening", {
      endpoint: imds.server.endpoint,
      role_arn: roleArn,
      on_alias: imds.onAlias,
      imds_v1: input.imdsV1,
    });

    logger.info("shutting down", { signal: await signal });
    broker.stop();
    await imds.stop();
    logger.info("stopped");
    return 0;
  },
};

/** Parses and checks every flag before anything is opened or added. */
export function validateInput(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, config?: BrokerConfig): BrokerImdsInput {
  const { values } = parseCommandArgs("broker imds", argv, FLAGS, { min: 0, max: 0 }, true);
  const settings = brokerSourceSettings("imds", values, env, { defaultLogLevel: "info", allowRoles: false, config });
  return { ...settings, ...imdsListenSettings(values, settings.config), logFormat: logOutput("broker imds", values, "json").format };
}

/** Where IMDS listens and whether it answers IMDSv1: each flag, else the config's imds block, else the default. */
export function imdsListenSettings(
  values: { readonly address?: string | undefined; readonly port?: string | undefined; readonly "imds-v1"?: boolean | undefined },
  config: BrokerConfig,
): { address: string; port: number; imdsV1: boolean } {
  const file = config.imds;
  let port = file.port ?? 80; // the schema checked it
  if (values.port !== undefined) {
    if (!/^[1-9][0-9]{0,4}$/.test(values.port) || Number(values.port) > 65535) {
      throw usageError(`invalid --port "${values.port}" (a port number, 1 to 65535)`);
    }
    port = Number(values.port);
  }
  let address = IMDS_ADDRESS;
  if (values.address !== undefined) address = checkImdsAddress(values.address, "--address", usageError);
  else if (file.address !== undefined) {
    const fromFile = file.address;
    address = inConfig(config, "imds.address", () => checkImdsAddress(fromFile, undefined, (m) => new CredproxyError(ErrorCode.ConfigInvalid, m)));
  }
  return { address, port, imdsV1: values["imds-v1"] ?? file.v1 ?? false };
}

/**
 * The canonical text of an IMDS address; refuses a prefix, and anything that is not one host.
 * `flag` names the flag it came from (undefined: the config, which inConfig() names).
 */
function checkImdsAddress(text: string, flag: string | undefined, fail: (message: string) => CredproxyError): string {
  let parsed;
  try {
    if (text.includes("/")) throw new Error("prefix");
    parsed = parseAddress(text);
  } catch {
    throw fail(`invalid ${flag ?? "address"} "${text}" (an IPv4 or IPv6 address, e.g. ${IMDS_ADDRESS})`);
  }
  // ::ffff:0.0.0.0 is 0.0.0.0 too: Bun binds it as "every interface". 224/4 and up is
  // multicast, reserved and broadcast; ff00::/8 is IPv6 multicast.
  const v4 = parsed.family === 4 ? parsed.bytes : isV4Mapped(parsed.bytes) ? parsed.bytes.subarray(12) : undefined;
  const host = v4 ?? parsed.bytes;
  if (host.every((b) => b === 0) || (v4 !== undefined && v4[0]! >= 224) || (v4 === undefined && host[0] === 0xff)) {
    throw fail(`${flag === undefined ? text : `${flag} ${text}`} is not the address of one host (unspecified, multicast or broadcast) and could offer credentials on every interface; use ${IMDS_ADDRESS} or 127.0.0.1`);
  }
  return formatAddress(parsed.family, parsed.bytes);
}

function isV4Mapped(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Once this process owns 169.254.169.254, its own SDK default chain (the source credentials
 * when no --profile is given) would ask itself for credentials at the IMDS step and wait on its
 * own refresh. Unless the user decided otherwise, switch that step off for this process only.
 */
function selfLoopGuard(logger: Logger): void {
  if (process.env.AWS_EC2_METADATA_DISABLED !== undefined) return;
  process.env.AWS_EC2_METADATA_DISABLED = "true";
  logger.debug("set AWS_EC2_METADATA_DISABLED=true for credproxy's own source credentials: IMDS is now credproxy");
}

function usageError(message: string): CredproxyError {
  return brokerUsageError("imds", message);
}
