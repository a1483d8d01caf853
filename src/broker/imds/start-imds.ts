/**
 * EC2 instance metadata for one role, on the metadata address when credproxy may own it and on
 * 127.0.0.1 otherwise: the composition `broker imds` and `broker exec --imds` share. It adds the
 * address to the loopback interface (src/net/loopback-address.ts), starts the IMDSv2 server
 * (imds-server.ts) and says what a child process needs in its environment to find it.
 */
import { CredproxyError, ErrorCode, isCredproxyError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { addLoopbackAliases } from "../../net/loopback-address.ts";
import { IMDS_ADDRESS, startImdsServer, type ImdsCredentialSource, type ImdsServer } from "./imds-server.ts";

/** What the alias errors say when IMDS cannot own its address (the fallback is automatic). */
const IMDS_ALIAS_HINTS = {
  setting: "serving IMDS on its own address",
  fallback: "use the 127.0.0.1 endpoint credproxy serves instead, through AWS_EC2_METADATA_SERVICE_ENDPOINT",
  linuxPrivilege: "run with CAP_NET_ADMIN, e.g. sudo",
};

export interface StartImdsOptions {
  readonly credentials: ImdsCredentialSource;
  readonly roleArn: string;
  readonly region: string;
  /** The address to own on lo. Default 169.254.169.254. */
  readonly address?: string | undefined;
  /** Default 80. */
  readonly port?: number | undefined;
  readonly imdsV1?: boolean | undefined;
  readonly logger: Logger;
  /** Replaces addLoopbackAliases (tests). */
  readonly addAliases?: typeof addLoopbackAliases | undefined;
}

export interface RunningImds {
  readonly server: ImdsServer;
  /** True when serving on the address itself; false after falling back to 127.0.0.1. */
  readonly onAlias: boolean;
  /**
   * What a child process needs in its environment to find this server: empty when the SDK
   * default (http://169.254.169.254/) reaches it, else AWS_EC2_METADATA_SERVICE_ENDPOINT.
   */
  readonly childEnv: Readonly<Record<string, string>>;
  /** Why the address could not be used, when `onAlias` is false. */
  readonly fallbackReason: CredproxyError | undefined;
  /** Stops listening and removes the address if this call added it. Idempotent. */
  stop(): Promise<void>;
}

/**
 * IMDS for `roleArn` on `address:port`, adding the address to lo first; when that is not
 * possible (no CAP_NET_ADMIN, not Linux, no right to bind the port) it serves on 127.0.0.1 on a
 * free port and says so in `fallbackReason`. Used by `broker imds` and `broker exec --imds`.
 */
export async function startImds(options: StartImdsOptions): Promise<RunningImds> {
  const log = options.logger;
  const address = options.address ?? IMDS_ADDRESS;
  const port = options.port ?? 80;
  const arn = parseRoleArn(options.roleArn);
  const serverOptions = {
    credentials: options.credentials,
    roleName: arn.roleName,
    accountId: arn.accountId,
    partition: arn.partition,
    region: options.region,
    imdsV1: options.imdsV1,
    logger: log,
  };
  const addAliases = options.addAliases ?? addLoopbackAliases;

  let fallbackReason: CredproxyError | undefined;
  let alias: Awaited<ReturnType<typeof addLoopbackAliases>> | undefined;
  try {
    alias = await addAliases([address], { hints: IMDS_ALIAS_HINTS });
  } catch (error) {
    if (!isCredproxyError(error, ErrorCode.Platform)) throw error;
    fallbackReason = error;
  }
  if (alias) {
    const { remove } = alias;
    try {
      const server = startImdsServer({ ...serverOptions, listen: { hostname: address, port }, localAddresses: [address] });
      process.once("exit", remove);
      for (const a of alias.aliases) {
        log.info(a.added ? "added the IMDS address to lo" : "the IMDS address was already on lo; leaving it", { address: a.address });
      }
      const isDefault = address === IMDS_ADDRESS && port === 80;
      let stopped: Promise<void> | undefined;
      return {
        server,
        onAlias: true,
        childEnv: isDefault ? {} : { AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint },
        fallbackReason: undefined,
        stop: () =>
          (stopped ??= server.stop().finally(() => {
            remove();
            process.off("exit", remove);
          })),
      };
    } catch (error) {
      remove();
      // Owning the address but not port 80 (no CAP_NET_BIND_SERVICE): the loopback port still works.
      if (!isPermissionDenied(error)) throw error;
      fallbackReason = error;
    }
  }
  if (fallbackReason === undefined) throw new Error("unreachable: no alias and no reason");

  const server = startImdsServer({ ...serverOptions, listen: { hostname: "127.0.0.1", port: 0 } });
  log.warn(`cannot serve IMDS on ${address}:${port}; serving on 127.0.0.1 instead`, {
    reason: fallbackReason.message,
    hint: fallbackReason.hint,
    endpoint: server.endpoint,
  });
  let stopped: Promise<void> | undefined;
  return {
    server,
    onAlias: false,
    childEnv: { AWS_EC2_METADATA_SERVICE_ENDPOINT: server.endpoint },
    fallbackReason,
    stop: () => (stopped ??= server.stop()),
  };
}

function parseRoleArn(roleArn: string): { partition: string; accountId: string; roleName: string } {
  const m = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]{1,64})$/.exec(roleArn);
  if (!m) {
    throw new CredproxyError(ErrorCode.Usage, `--role-arn "${roleArn}" is not an IAM role ARN`, {
      hint: "use the form arn:aws:iam::123456789012:role/Name (a path before the name is fine)",
    });
  }
  return { partition: m[1]!, accountId: m[2]!, roleName: m[3]! };
}

function isPermissionDenied(error: unknown): error is CredproxyError {
  if (!isCredproxyError(error, ErrorCode.Listen)) return false;
  return (error.cause as { code?: unknown } | undefined)?.code === "EACCES";
}

