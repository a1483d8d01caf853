import { CredproxyError, ErrorCode } from "../../errors.ts";
import { createLogger, type Logger } from "../../log.ts";
import type { StreamListener } from "../../tunnel/socks/stream-listeners.ts";
import type { StreamTarget } from "../../tunnel/streams/stream-mux.ts";
import type { StreamTunnel } from "../../tunnel/streams/stream-tunnel.ts";
import {
  ensureTunnelsDirectory,
  findTunnels,
  pidStartTime,
  removeTunnelFiles,
  serveControlSocket,
  tunnelPaths,
  tunnelsDirectory,
  writeTunnelRecord,
} from "../../tunnel/tunnel-state.ts";
import { parseCommandArgs, usageError } from "../args.ts";
import { logLevelSetting } from "../env.ts";
import { logOutput, logOutputHelp } from "../log-output.ts";
import { firstSignal } from "../signals.ts";
import { DETACHED_CHILD_ENV, detachTunnel, UP_LINE_PREFIX } from "../tunnel-detach.ts";
import { tunnelName } from "../tunnel-settings.ts";
import { DEFAULT_SOCKS_LISTEN, TUNNEL_SOCKS_FLAGS, tunnelSocksSettings, type TunnelSocksSettings } from "../tunnel-socks-settings.ts";
import type { Command } from "./index.ts";

const COMMAND = "tunnel socks";
/** What the tunnel record holds as its "interface": there is none, and nothing to clean up. */
export const SOCKS_INTERFACE = "socks";

const USAGE = `Usage: credproxy tunnel socks (--instance-id ID | --tag KEY=VALUE...) [--listen HOST:PORT]
                            [-L [BIND:]PORT:HOST:PORT]... [options]

Reaches hosts behind an EC2 instance without root on either end: a SOCKS5 and HTTP CONNECT
proxy here (one port; names are resolved at the instance, with its VPC resolver) and static
forwards for programs without proxy support, carried as TCP streams over a Session Manager
Port session to \`credproxy agent --mode socks\`, which dials them itself (no TUN, no NAT; its
--allow-cidr decides where). Each stream has its own flow control, so a bulk download does not
stall an interactive session beside it. TCP only. When it can carry streams it prints one line
starting "tunnel up:" and, without --foreground, goes on in the background. Stop it with
\`credproxy tunnel down NAME\`.

Options:
  --listen HOST:PORT   The proxy port (SOCKS5 and HTTP CONNECT). Default: ${DEFAULT_SOCKS_LISTEN}
  -L, --forward F      [BIND:]PORT:HOST:PORT: connections to BIND:PORT (default bind
                       127.0.0.1) go to HOST:PORT as the instance sees it (repeat for more),
                       e.g. -L 5432:db.internal:5432
  --no-proxy           Only the -L forwards, no proxy port
  --instance-id ID     The instance, e.g. i-0123456789abcdef0
  --tag KEY=VALUE      Select the one running instance with this tag (repeat: all must match)
  --profile P          AWS profile for the credentials (SSO and role_arn chains work).
                       Default: the default credential chain
  --region R           Default: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1
  --document NAME      Session Manager Port document. Default: AWS-StartSSHSession
  --stream-endpoint H  Connect the data channel to this host instead of the StreamUrl's
                       (a VPC endpoint, say)
  --agent-port N       Port credproxy agent listens on at the instance. Default: 7860
  --name NAME          The tunnel's name for status and down. Default: the instance id
                       (or the --tag values)
  --foreground         Stay in the foreground (logs on stderr) instead of detaching
  --log-level LEVEL    debug, info, warn or error. Default: info
${logOutputHelp(19, "text")}
  -h, --help           Show this help

Use it: curl --socks5-hostname 127.0.0.1:1080 http://internal.example/, or
HTTPS_PROXY=http://127.0.0.1:1080 for tools that speak CONNECT; psql -h 127.0.0.1 -p 5432
through -L 5432:db.internal:5432.
State: $CREDPROXY_RUNTIME_DIR, else $XDG_RUNTIME_DIR/credproxy (/run/credproxy as root).`;

export const tunnelSocksCommand: Command = {
  name: "socks",
  summary: "SOCKS5/HTTP CONNECT proxy and -L forwards through an instance (no root)",
  usage: USAGE,
  flags: TUNNEL_SOCKS_FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs(COMMAND, argv, TUNNEL_SOCKS_FLAGS);
    const settings = tunnelSocksSettings(values);
    const output = logOutput(COMMAND, values, "text");
    const level = logLevelSetting(values["log-level"], process.env, output.dev ? "debug" : "info", (m) => usageError(COMMAND, m));
    const dir = tunnelsDirectory();
    if (dir === undefined) {
      throw new CredproxyError(ErrorCode.Platform, `${COMMAND}: no runtime directory for the tunnel's state`, {
        hint: "set CREDPROXY_RUNTIME_DIR (or XDG_RUNTIME_DIR) to a directory of yours",
      });
    }
    const name = tunnelName(settings);
    const detachedChild = process.env[DETACHED_CHILD_ENV] === "1";
    if (!detachedChild && findTunnels(dir).some((t) => t.record.name === name)) {
      throw new CredproxyError(ErrorCode.Usage, `${COMMAND}: a tunnel named ${name} is recorded already`, {
        hint: `stop it first (credproxy tunnel down ${name}; --force if its process is gone), or give this one another --name`,
      });
    }
    ensureTunnelsDirectory(dir);
    if (values.foreground !== true && !detachedChild) return detachTunnel(["tunnel", "socks", ...argv], tunnelPaths(dir, name).log);
    delete process.env[DETACHED_CHILD_ENV];
    const logger = createLogger({ level, format: output.format }, { tunnel: name });
    return runSocksTunnel(settings, name, dir, logger, detachedChild ? tunnelPaths(dir, name).log : undefined);
  },
};

/** The listeners first (a taken port fails before any AWS call), then the sessions. */
async function runSocksTunnel(settings: TunnelSocksSettings, name: string, dir: string, logger: Logger, logFile: string | undefined): Promise<number> {
  const stop = firstSignal();
  const abort = new AbortController();
  void stop.then(() => abort.abort());
  const { startForwardListener, startProxyListener } = await import("../../tunnel/socks/stream-listeners.ts");
  const { openAwsStreamTunnel } = await import("../../tunnel/open-aws-tunnel.ts");
  let tunnel: StreamTunnel | undefined;
  const opener = { open: (target: StreamTarget) => tunnel?.open(target) };
  const listeners: StreamListener[] = [];
  const described: string[] = [];
  let filesWritten = false;
  let clean = false;
  let destroy = (): void => undefined;
  try {
    if (settings.listen !== undefined) {
      const proxy = await startProxyListener(settings.listen.host, settings.listen.port, opener, logger.child({ part: "proxy" }));
      listeners.push(proxy);
      described.push(`socks5+connect ${where(proxy.host, proxy.port)}`);
    }
    for (const f of settings.forwards) {
      const forward = await startForwardListener(f.bindHost, f.bindPort, f.host, f.port, opener, logger.child({ part: "forward", forward: f.text }));
      listeners.push(forward);
      described.push(`${where(forward.host, forward.port)}>${where(f.host, f.port)}`);
    }
    const aws = await openAwsStreamTunnel(settings, logger, abort.signal);
    destroy = aws.destroy;
    tunnel = aws.tunnel;
    const first = await Promise.race([tunnel.ready.then((up) => ({ up })), stop.then((signal) => ({ signal }))]);
    if ("signal" in first) {
      await tunnel.close(`stopped by ${first.signal} before it was up`);
      clean = true;
      return 0;
    }
    const { up } = first;
    filesWritten = true;
    writeTunnelRecord(dir, {
      name,
      pid: process.pid,
      pidStartTime: pidStartTime("self"),
      interface: SOCKS_INTERFACE,
      clientAddress: "-",
      agentAddress: "-",
      routes: described,
      cidrs: [],
      instanceId: aws.instance.instanceId,
      region: settings.region,
      sessionId: up.sessionId,
      startedAt: new Date().toISOString(),
      logFile,
    });
    const live = tunnel;
    const server = await serveControlSocket(tunnelPaths(dir, name).socket, () => ({
      name,
      pid: process.pid,
      instanceId: aws.instance.instanceId,
      region: settings.region,
      interface: SOCKS_INTERFACE,
      routes: described,
      ...live.status(),
    }));
    process.stdout.write(`${UP_LINE_PREFIX} ${name} via socks: ${described.join(", ")}; instance ${aws.instance.instanceId}, session ${up.sessionId ?? "(none)"}\n`);
    logger.info("tunnel up", { mode: "socks", listeners: described.join(" "), instance: aws.instance.instanceId, session: up.sessionId });
    const end = await Promise.race([tunnel.closed, stop.then((signal) => live.close(`stopped by ${signal}`))]);
    server.close();
    if (end.error !== undefined) throw end.error;
    logger.info("tunnel down", { reason: end.reason });
    clean = true;
    return 0;
  } finally {
    await Promise.all(listeners.map((l) => l.close()));
    await tunnel?.close();
    destroy();
    if (filesWritten) removeTunnelFiles(dir, name, { log: clean });
  }
}

function where(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
