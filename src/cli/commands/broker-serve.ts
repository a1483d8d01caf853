import { resolve } from "node:path";
import { createBrokerCredentials } from "../../broker/broker-credentials.ts";
import { credentialRoutes } from "../../broker/credential-routes.ts";
import { PeerPolicy, canonicalExecutable, procProcessTable } from "../../broker/socket/peer-policy.ts";
import { checkSocketPathShape, defaultSocketPath, ownUid } from "../../broker/socket/socket-path.ts";
import { startUnixServer } from "../../broker/socket/unix-server.ts";
import { CredproxyError, ErrorCode, isCredproxyError } from "../../errors.ts";
import { logOutput, logOutputHelp } from "../log-output.ts";
import { createLogger } from "../../log.ts";
import { assertPeerCredentialsAvailable, peerCredentialsVerified } from "../../net/peer-credentials.ts";
import { parseCommandArgs, type OptionSpec } from "../args.ts";
import type { BrokerConfig } from "../../config/load-broker-config.ts";
import { ALLOW_ROLE_FLAG, BROKER_SOURCE_FLAGS, inConfig, brokerLogLevelHelp, brokerSourceFlagsHelp, STS_ENDPOINT_NOTE, brokerSourceSettings, type BrokerSourceSettings } from "../broker-settings.ts";
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
broker refuses to start. The socket is removed on exit (SIGTERM, SIGINT, SIGHUP, SIGQUIT and
the other catchable signals that would end it).

Options:
      --socket PATH        Default: socket.path in the config, else
                           $XDG_RUNTIME_DIR/credproxy/broker.sock, else
                           <tmpdir>/credproxy-<uid>/broker.sock
${brokerSourceFlagsHelp(20, true, {
  "--mfa-token CODE": "The current 6-digit MFA code (default: prompt on the terminal;\nwithout one, a new code is needed when the session expires)",
})}
      --allow-uid UID      A uid that may connect (repeatable). Default: this user's uid only.
                           The socket is 0600: other users also need the directory and
                           socket opened to them (setfacl, say) before they can connect
      --allow-exe PATH     Serve only processes running this program (repeatable; symlinks
                           resolved; for scripts, the interpreter, e.g. /usr/bin/python3).
                           Through credential_process the program is credproxy itself
      --allow-descendants-of PID
                           Serve only process PID and the processes it starts, e.g. one
                           terminal's shell ($$) or a CI job's runner. Its children that
                           outlive it are re-parented and then refused
${brokerLogLevelHelp(20, "info")}
${logOutputHelp(20, "json")}
  -h, --help               Show this help

${STS_ENDPOINT_NOTE}`;

export interface BrokerServeInput extends BrokerSourceSettings {
  readonly logFormat: "json" | "dev";
  /** Absolute. */
  readonly socket: string;
  readonly policy: PeerPolicy;
}

const FLAGS = {
  ...BROKER_SOURCE_FLAGS,
  ...ALLOW_ROLE_FLAG,
  socket: { type: "string" },
  "allow-uid": { type: "string", multiple: true },
  "allow-exe": { type: "string", multiple: true },
  "allow-descendants-of": { type: "string" },
} as const satisfies OptionSpec;

export const brokerServeCommand: Command = {
  name: "serve",
  summary: "Serve one role on a unix socket to this user's processes (credential_process)",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const input = validateInput(argv);
    assertPeerCredentialsAvailable();
    const logger = createLogger({ level: input.logLevel, format: input.logFormat });
    if (!peerCredentialsVerified()) logger.warn("peer credentials on this platform are unverified", { platform: process.platform });
    // Handlers go in before anything starts, so a signal during start-up still stops cleanly.
    const signal = firstSignal();

    const credentials = createBrokerCredentials({
      roleArn: input.roleArn,
      profile: input.profile,
      mfaSerial: input.mfaSerial,
      mfaToken: input.mfaToken,
      region: input.region,
      durationSeconds: input.durationSeconds,
      stsEndpoint: input.stsEndpoint,
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
export function validateInput(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, config?: BrokerConfig, platform: string = process.platform): BrokerServeInput {
  const { values } = parseCommandArgs("broker serve", argv, FLAGS, { min: 0, max: 0 }, true);
  const settings = brokerSourceSettings("serve", values, env, { defaultLogLevel: "info", config });
  const file = settings.config;
  if (values.socket === "") throw usageError("--socket is empty (give the socket's path, or leave the flag out for the default)");
  const fromFile = values.socket === undefined && file.socket.path !== undefined;
  const socket = resolve(values.socket ?? file.socket.path ?? defaultSocketPath(env));
  if (fromFile) inConfig(file, "socket.path", () => checkSocketPathShape(socket));
  else withOwnHint(() => checkSocketPathShape(socket));

  const allowUids = values["allow-uid"]?.map((text) => {
    if (!/^\d{1,10}$/.test(text)) throw usageError(`invalid --allow-uid "${text}" (a numeric user id, e.g. ${ownUid()})`);
    return Number(text);
  }) ?? file.socket.allowUids ?? [];
  const allowExes = values["allow-exe"]?.map(canonicalExecutable) ??
    file.socket.allowExes?.map((path, i) => inConfig(file, `socket.allow_exes[${i}]`, () => canonicalExecutable(path))) ??
    [];
  const descendantOf = ancestorPid(values["allow-descendants-of"]);
  if ((allowExes.length > 0 || descendantOf !== undefined) && platform !== "linux") {
    const what = values["allow-exe"] === undefined && allowExes.length > 0 ? `socket.allow_exes in ${file.file}` : descendantOf !== undefined ? "--allow-descendants-of" : "--allow-exe";
    throw usageError(`${what} needs Linux's /proc, which ${platform} does not have; only the uid check (--allow-uid) works here`);
  }
  // The ancestor's start time, so that its pid, once free and reused, admits nobody.
  const descendantStart = descendantOf === undefined ? undefined : procProcessTable().startTime(descendantOf);
  const policy = withOwnHint(() => PeerPolicy.create({ allowUids, allowExes, descendantOf, descendantStart }, ownUid()));
  return { ...settings, socket, policy, logFormat: logOutput("broker serve", values, "json").format };
}

/** --allow-descendants-of: a running process, so a typo does not lock every client out. */
function ancestorPid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d{0,9}$/.test(text)) throw usageError(`invalid --allow-descendants-of "${text}" (a process id, e.g. $$ for this shell)`);
  const pid = Number(text);
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else, which is still a process to descend from.
    if ((error as { code?: string }).code !== "EPERM") throw usageError(`--allow-descendants-of ${pid}: no such process`);
  }
  return pid;
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

