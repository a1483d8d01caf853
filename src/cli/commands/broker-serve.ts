import { resolve } from "node:path";
import { createBrokerCredentials } from "../../broker/broker-credentials.ts";
import { credentialRoutes } from "../../broker/credential-routes.ts";
import { PeerPolicy, canonicalExecutable, procProcessTable } from "../../broker/peer-policy.ts";
import { checkSocketPathShape, defaultSocketPath, ownUid } from "../../broker/socket-path.ts";
import { startUnixServer } from "../../broker/unix-server.ts";
import { CredproxyError, ErrorCode, isCredproxyError } from "../../errors.ts";
import { createLogger, type LogLevel } from "../../log.ts";
import { assertPeerCredentialsAvailable, peerCredentialsVerified } from "../../net/peer-credentials.ts";
import { parseCommandArgs } from "../args.ts";
import { awsRegion, logLevelSetting } from "../env.ts";
import type { Command } from "./index.ts";
import { firstSignal } from "../signals.ts";

const HELP_HINT = `run "credproxy broker serve --help" for usage`;

const USAGE = `Usage: credproxy broker serve [--role-arn ARN] [options]

Serves one role's short-lived credentials (without --role-arn: a short-lived session of the
source identity, never its long-term keys) on a unix socket, to processes of this user only.
Every connection is checked against the kernel's record of who made it (SO_PEERCRED) before
anything is answered. Clients read it through credential_process, e.g. in ~/.aws/config:

  [default]
  credential_process = /path/to/credproxy broker credential-process

The socket is created mode 0600 in a directory only its owner can enter. A dead socket an
earlier broker left behind is replaced; any other file at the path is left alone and the
broker refuses to start. The socket is removed on exit (SIGTERM or SIGINT).

Options:
      --socket PATH        Default: $XDG_RUNTIME_DIR/credproxy/broker.sock, else
                           <tmpdir>/credproxy-<uid>/broker.sock
      --role-arn ARN       The role GET / serves. Default: the source's temporary credentials
                           as they are, or an sts:GetSessionToken session for long-term keys
      --profile NAME       Source credentials from this profile. Default: the SDK default chain
      --mfa-serial ARN     MFA device for a GetSessionToken session used as the source
                           (default: the source profile's mfa_serial in ~/.aws/config)
      --mfa-token CODE     The current 6-digit MFA code (default: prompt on the terminal;
                           without one, a new code is needed when the session expires)
      --region REGION      Region for STS. Default: $AWS_REGION, else $AWS_DEFAULT_REGION,
                           else us-east-1
      --allow-uid UID      A uid that may connect (repeatable). Default: this user's uid only.
                           The socket is 0600: other users also need the directory and
                           socket opened to them (setfacl, say) before they can connect
      --allow-exe PATH     Serve only processes running this program (repeatable; symlinks
                           resolved; for scripts, the interpreter, e.g. /usr/bin/python3).
                           Through credential_process the program is credproxy itself
      --allow-role PATTERN Role ARNs GET /role-arn/<ARN> may assume (repeatable; * matches
                           any run of characters). Default: none
      --log-level LEVEL    debug, info, warn or error (also $CREDPROXY_LOG_LEVEL). Default: info
  -h, --help               Show this help

The STS endpoint is AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else STS in the region.`;

export interface BrokerServeInput {
  /** Absolute. */
  readonly socket: string;
  readonly roleArn: string | undefined;
  readonly profile: string | undefined;
  readonly mfaSerial: string | undefined;
  readonly mfaToken: string | undefined;
  readonly region: string;
  readonly policy: PeerPolicy;
  readonly allowRoles: readonly string[];
  readonly logLevel: LogLevel;
}

export const brokerServeCommand: Command = {
  name: "serve",
  summary: "Serve one role on a unix socket to this user's processes (credential_process)",
  usage: USAGE,
  async run(argv) {
    const input = validateInput(argv);
    assertPeerCredentialsAvailable();
    const logger = createLogger({ level: input.logLevel });
    if (!peerCredentialsVerified()) logger.warn("peer credentials on this platform are unverified", { platform: process.platform });
    // Handlers go in before anything starts, so a signal during start-up still stops cleanly.
    const signal = firstSignal();

    const credentials = createBrokerCredentials({
      roleArn: input.roleArn,
      profile: input.profile,
      mfaSerial: input.mfaSerial,
      mfaToken: input.mfaToken,
      region: input.region,
      sessionName: "credproxy-broker",
      allowRoles: input.allowRoles,
      logger,
    });
    const processes = procProcessTable();
    let server;
    try {
      server = await startUnixServer({
        path: input.socket,
        authorize: (peer) => input.policy.check(peer, processes),
        handle: credentialRoutes(credentials, logger),
        logger,
      });
    } catch (error) {
      credentials.stop();
      throw error;
    }
    logger.info("credproxy broker serve listening", {
      socket: server.path,
      role_arn: input.roleArn ?? "(none: the source's session)",
      allowed_peers: input.policy.explain(),
      allow_roles: input.allowRoles.length > 0 ? input.allowRoles : undefined,
    });

    logger.info("shutting down", { signal: await signal });
    server.stop();
    credentials.stop();
    logger.info("stopped");
    return 0;
  },
};

/** Parses and checks every flag before any file or socket is touched. */
export function validateInput(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BrokerServeInput {
  const { values } = parseCommandArgs("broker serve", argv, {
    socket: { type: "string" },
    "role-arn": { type: "string" },
    profile: { type: "string" },
    "mfa-serial": { type: "string" },
    "mfa-token": { type: "string" },
    region: { type: "string" },
    "allow-uid": { type: "string", multiple: true },
    "allow-exe": { type: "string", multiple: true },
    "allow-role": { type: "string", multiple: true },
    "log-level": { type: "string" },
  });
  const roleArn = values["role-arn"];
  if (roleArn === "") throw usageError("--role-arn is empty (e.g. --role-arn arn:aws:iam::123456789012:role/dev, or leave it out)");
  const mfaSerial = values["mfa-serial"];
  if (mfaSerial === "") throw usageError("--mfa-serial is empty (e.g. --mfa-serial arn:aws:iam::123456789012:mfa/alice)");
  const mfaToken = values["mfa-token"];
  if (mfaToken !== undefined && !/^\d{6}$/.test(mfaToken)) throw usageError("--mfa-token must be the 6-digit code your MFA device shows");
  const socket = resolve(values.socket || defaultSocketPath(env));
  withOwnHint(() => checkSocketPathShape(socket));

  const allowUids = (values["allow-uid"] ?? []).map((text) => {
    if (!/^\d{1,10}$/.test(text)) throw usageError(`invalid --allow-uid "${text}" (a numeric user id, e.g. ${ownUid()})`);
    return Number(text);
  });
  const allowExes = (values["allow-exe"] ?? []).map(canonicalExecutable);
  const policy = withOwnHint(() => PeerPolicy.create({ allowUids, allowExes }, ownUid()));
  const allowRoles = values["allow-role"] ?? [];
  for (const pattern of allowRoles) {
    if (!pattern.startsWith("arn:") && pattern !== "*") throw usageError(`invalid --allow-role "${pattern}" (a role ARN pattern, e.g. 'arn:aws:iam::123456789012:role/dev-*')`);
  }

  const logLevel = logLevelSetting(values["log-level"], env, "info", usageError);
  return {
    socket,
    roleArn,
    profile: values.profile,
    mfaSerial,
    mfaToken,
    region: awsRegion(values.region, env),
    policy,
    allowRoles,
    logLevel,
  };
}

function usageError(message: string): CredproxyError {
  return new CredproxyError(ErrorCode.Usage, `broker serve: ${message}`, { hint: HELP_HINT });
}

/** Usage errors from the socket-path and policy helpers get this command's help hint if they have none. */
function withOwnHint<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!isCredproxyError(error, ErrorCode.Usage)) throw error;
    throw new CredproxyError(ErrorCode.Usage, error.message, { hint: error.hint ?? HELP_HINT, cause: error.cause });
  }
}

