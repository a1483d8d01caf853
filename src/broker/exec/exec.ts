/**
 * `credproxy broker exec`: runs a command with role credentials served from a loopback
 * endpoint it alone knows the token of, like `aws-vault exec --ecs-server`
 * (reference/aws-credential-protocols.md §5.1): credentials are fetched before the command
 * starts, the command runs as a subprocess (so the endpoint stays up), signals are forwarded
 * and its exit status is mirrored.
 *
 * Every process the command starts inherits the endpoint, so they all share one refreshing
 * cache and one STS call per refresh, not one per process.
 */
import { constants } from "node:os";
import { readFileSync } from "node:fs";
import { isatty } from "node:tty";
import { STOP_SIGNALS } from "../../cli/signals.ts";
import { CredproxyError, ErrorCode, formatError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { BrokerCredentials } from "../broker-credentials.ts";
import { childEnv, shadowingWarnings, type Env, type ReadTextFile } from "./child-env.ts";
import { credentialRoutes } from "../credential-routes.ts";
import { startEcsServer } from "./ecs-server.ts";

export interface ExecOptions {
  /** The command and its arguments; the first is looked up on the command's PATH. */
  readonly command: readonly string[];
  /** The broker's credentials; the caller creates and stops them. */
  readonly credentials: BrokerCredentials;
  readonly region: string;
  /** See ChildEnvOptions.isolateSharedFiles. */
  readonly isolateSharedFiles?: boolean | undefined;
  readonly logger: Logger;
  /**
   * Serve the command through IMDS instead of the container endpoint: the environment a child
   * needs to find the (already running) IMDS server. No loopback ECS server is started then.
   */
  readonly imdsEnv?: Readonly<Record<string, string>> | undefined;
  /** The environment the command's is derived from; default process.env. */
  readonly env?: Env | undefined;
  /** For the shadowing check; default reads the file as UTF-8. */
  readonly readFile?: ReadTextFile | undefined;
  /**
   * Whether a terminal-generated SIGINT/SIGQUIT has already reached the command; default
   * `keyboardSignalsReachChild`. Tests inject it.
   */
  readonly keyboardSignalsReachChild?: ((childPid: number) => boolean) | undefined;
}

/**
 * Forwarded to the command: every signal that would otherwise end credproxy (STOP_SIGNALS), so
 * credproxy ends when the command does and removes what it set up, plus SIGWINCH. Others
 * (SIGTSTP, SIGCONT…) keep their default action on credproxy.
 */
export const FORWARDED_SIGNALS = [...STOP_SIGNALS, "SIGWINCH"] as const satisfies readonly NodeJS.Signals[];
/** Sent by the terminal to its whole foreground process group, which includes the command. */
const KEYBOARD_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(["SIGINT", "SIGQUIT"]);

/** Shell conventions for a command that could not be started. */
const EXIT_NOT_FOUND = 127;
const EXIT_CANNOT_EXECUTE = 126;

/**
 * Runs `command` to completion and returns the exit code to mirror: its own, or 128 + the
 * signal number if a signal ended it. Throws the core's CredproxyError, before starting the
 * command, when the role cannot be assumed.
 */
export async function runExec(options: ExecOptions): Promise<number> {
  const { command, credentials, logger } = options;
  const [file] = command;
  if (file === undefined) throw new CredproxyError(ErrorCode.Usage, "Cannot run a command as none was given", { hint: "put it after --" });

  // Fail fast, before the command exists: a clear STS error beats an SDK's "unable to locate credentials".
  await credentials.base.get();

  const server = options.imdsEnv ? undefined : startEcsServer({ routes: credentialRoutes(credentials, logger), logger });
  try {
    const env = childEnv(options.env ?? process.env, server ?? options.imdsEnv ?? {}, {
      region: options.region,
      isolateSharedFiles: options.isolateSharedFiles,
    });
    for (const w of shadowingWarnings(env, options.readFile ?? readTextFile)) logger.warn(w.message, { file: w.file, hint: w.hint });
    return await runChild(command, env, logger, options.keyboardSignalsReachChild ?? keyboardSignalsReachChild);
  } finally {
    await server?.stop();
  }
}

async function runChild(
  command: readonly string[],
  env: Record<string, string>,
  logger: Logger,
  keyboardReachedChild: (childPid: number) => boolean,
): Promise<number> {
  let child: ReturnType<typeof Bun.spawn> | undefined;
  const forward = (signal: NodeJS.Signals): void => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    // Ctrl-C in a terminal already went to the command; a second SIGINT makes tools such as
    // terraform abandon their graceful stop (uv makes the same call, astral-sh/uv#13925).
    if (KEYBOARD_SIGNALS.has(signal) && keyboardReachedChild(child.pid)) {
      logger.debug("not forwarding a terminal signal the command already received", { signal });
      return;
    }
    logger.debug("forwarding signal to the command", { signal, pid: child.pid });
    try {
      child.kill(signal);
    } catch {
      // exited in the meantime
    }
  };
  // Handlers and spawn in one synchronous block: no signal can arrive in between unhandled.
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  try {
    try {
      child = Bun.spawn([...command], { env, stdio: ["inherit", "inherit", "inherit"] });
    } catch (error) {
      return cannotStart(command[0]!, error);
    }
    logger.debug("command started", { pid: child.pid });
    await child.exited;
    const status = exitStatus(child.exitCode, child.signalCode);
    logger.debug("command exited", { code: child.exitCode, signal: child.signalCode, exit: status });
    return status;
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  }
}

/** The child's exit code, or 128 + signal number when a signal ended it (the shell convention). */
export function exitStatus(code: number | null, signal: string | number | null): number {
  if (signal !== null) {
    const number = typeof signal === "number" ? signal : (constants.signals as Record<string, number | undefined>)[signal];
    return 128 + (number ?? 0);
  }
  return code ?? 1;
}

function cannotStart(file: string, error: unknown): number {
  const code = (error as { code?: string } | null)?.code;
  const why = error instanceof Error ? error.message : String(error);
  const notFound = code === "ENOENT";
  const err = new CredproxyError(ErrorCode.Usage, `Cannot run "${file}" as ${notFound ? "it was not found" : "it could not be executed"}: ${why}`, {
    hint: notFound ? "check the name, or give the command's full path" : "check that the file is an executable program and that you may run it",
  });
  process.stderr.write(formatError(err) + "\n");
  return notFound ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
}

/**
 * True when credproxy and the command are in the foreground process group of a terminal, where
 * Ctrl-C and Ctrl-\ reach both of them. Linux reads /proc (also noticing a command that moved to
 * its own process group); elsewhere a terminal on stdin is taken to mean yes.
 */
export function keyboardSignalsReachChild(childPid: number): boolean {
  const self = procStat("self");
  if (!self) return isatty(0);
  const child = procStat(String(childPid));
  return self.ttyNr !== 0 && self.tpgid === self.pgrp && (child === undefined || child.pgrp === self.pgrp);
}

/** pgrp, tty_nr and tpgid from /proc/<pid>/stat (fields 5, 7, 8), or undefined without /proc. */
export function procStat(pid: string, read: ReadTextFile = readTextFile): { pgrp: number; ttyNr: number; tpgid: number } | undefined {
  const text = read(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  // The command name (field 2) may contain spaces and parentheses; fields resume after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const [pgrp, , ttyNr, tpgid] = fields.slice(2, 6).map(Number);
  if (pgrp === undefined || ttyNr === undefined || tpgid === undefined || [pgrp, ttyNr, tpgid].some(Number.isNaN)) return undefined;
  return { pgrp, ttyNr, tpgid };
}

function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
