/**
 * What `credproxy tunnel up` runs once its settings are checked: source credentials from the
 * shared credential core (a profile, with its SSO or role_arn chain, or the default chain),
 * the EC2 and SSM clients, the one instance selected (running and SSM-online), and startTunnel()
 * with a data channel per session over StartSession/ResumeSession/TerminateSession.
 *
 * The data channel asks for credentials before every (re)connect and the SSM client before
 * every call, and the source provider re-resolves them when they near expiry, so every
 * ResumeSession is signed with fresh credentials. Loaded lazily: it pulls in the AWS SDK.
 */
import type { TunnelUpSettings } from "../cli/tunnel-settings.ts";
import { createSourceProvider } from "../credentials/source-provider.ts";
import type { Logger } from "../log.ts";
import { openDataChannel } from "../ssm/data-channel.ts";
import { TUNNEL_QUEUE_ENV, tunnelQueueBounds } from "./tunnel-queue.ts";
import { insecureStreamUrlFromEnv } from "../ssm/stream-url.ts";
import { findInstance, type FoundInstance } from "./find-instance.ts";
import { sessionCalls } from "./session-calls.ts";
import { openTun } from "../net/tun-device.ts";
import { tunnelClients } from "./tunnel-clients.ts";
import { startTunnel, type Tunnel } from "./tunnel-session.ts";

export interface AwsTunnel {
  readonly instance: FoundInstance;
  readonly tunnel: Tunnel;
  /** Releases the SDK clients (after the tunnel has closed). */
  destroy(): void;
}

export interface OpenAwsTunnelOptions {
  readonly settings: TunnelUpSettings;
  readonly logger: Logger;
  /** The TUN interface name to ask for (a `%d` numbers it). */
  readonly tunName?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export async function openAwsTunnel(options: OpenAwsTunnelOptions): Promise<AwsTunnel> {
  const { settings, logger } = options;
  const source = createSourceProvider(settings.profile === undefined ? { kind: "default-chain" } : { kind: "profile", profile: settings.profile }, {
    region: settings.region,
    context: "broker",
  });
  const clients = await tunnelClients({ region: settings.region, profile: settings.profile, credentials: source });
  try {
    const instance = await findInstance({ instanceId: settings.instanceId, tags: settings.tags, ec2: clients.ec2, ssm: clients.ssm, signal: options.signal });
    logger.info("instance found", { instance: instance.instanceId, name: instance.name, agentVersion: instance.agentVersion });
    const queue = tunnelQueueBounds();
    if (queue.mode === "unbounded") logger.warn(`${TUNNEL_QUEUE_ENV}=unbounded: no drop-tail queue in front of the session (a benchmark switch; latency under load grows without limit)`);
    const calls = sessionCalls({ ssm: clients.ssm, instanceId: instance.instanceId, document: settings.document, agentPort: settings.agentPort });
    const tunnel = startTunnel({
      openChannel: () =>
        openDataChannel({
          ...calls,
          credentials: source,
          region: settings.region,
          logger: logger.child({ part: "data-channel" }),
          allowInsecureStreamUrl: insecureStreamUrlFromEnv(),
          streamEndpoint: settings.streamEndpoint,
          maxInFlightBytes: queue.clientInFlightBytes,
        }),
      openTun,
      cidrs: settings.cidrs,
      tunName: options.tunName,
      mtu: settings.mtu,
      sessions: settings.sessions,
      logger,
    });
    return { instance, tunnel, destroy: () => clients.destroy() };
  } catch (error) {
    clients.destroy();
    throw error;
  }
}
