/**
 * What `credproxy tunnel up` and `tunnel socks` run once their settings are checked: source
 * credentials from the shared credential core (a profile, with its SSO or role_arn chain, or
 * the default chain), the EC2 and SSM clients, the one instance selected (running and
 * SSM-online), and a data channel per session over StartSession/ResumeSession/TerminateSession,
 * handed to startTunnel() (TUN) or startStreamTunnel() (streams).
 *
 * The data channel asks for credentials before every (re)connect and the SSM client before
 * every call, and the source provider re-resolves them when they near expiry, so every
 * ResumeSession is signed with fresh credentials. Loaded lazily: it pulls in the AWS SDK.
 */
import type { TunnelUpSettings } from "../cli/tunnel-settings.ts";
import { createSourceProvider } from "../credentials/source-provider.ts";
import type { Logger } from "../log.ts";
import { openDataChannel } from "../ssm/data-channel.ts";
import { withPortMux } from "../ssm/port-mux-channel.ts";
import type { DataChannel } from "../ssm/data-channel-types.ts";
import { TUNNEL_QUEUE_ENV, tunnelQueueBounds } from "./tunnel-queue.ts";
import { insecureStreamUrlFromEnv } from "../ssm/stream-url.ts";
import { findInstance, type FoundInstance } from "./find-instance.ts";
import { sessionCalls } from "./session-calls.ts";
import { openTun } from "../net/tun-device.ts";
import { tunnelClients } from "./tunnel-clients.ts";
import { startTunnel, type Tunnel, type TunnelUp } from "./tunnel-session.ts";
import { startStreamTunnel, type StreamTunnel } from "./streams/stream-tunnel.ts";

export interface AwsTunnel {
  readonly instance: FoundInstance;
  readonly tunnel: Tunnel;
  readonly ssmEndpoint: string | undefined;
  /** Releases the SDK clients (after the tunnel has closed). */
  destroy(): void;
}

export interface OpenAwsTunnelOptions {
  readonly settings: TunnelUpSettings;
  readonly logger: Logger;
  /** The TUN interface name to ask for (a `%d` numbers it). */
  readonly tunName?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onUp?: ((up: TunnelUp) => void) | undefined;
}

/** What both kinds of tunnel need from AWS: the instance, and a way to open a session to it. */
export type AwsSessionSettings = Pick<TunnelUpSettings, "profile" | "region" | "instanceId" | "tags" | "document" | "agentPort" | "streamEndpoint">;

interface AwsSessions {
  readonly instance: FoundInstance;
  readonly openChannel: () => DataChannel;
  readonly ssmEndpoint: string | undefined;
  destroy(): void;
}

export async function openAwsTunnel(options: OpenAwsTunnelOptions): Promise<AwsTunnel> {
  const { settings, logger } = options;
  const aws = await openAwsSessions(settings, logger, options.signal);
  const tunnel = startTunnel({
    openChannel: aws.openChannel,
    openTun,
    cidrs: settings.cidrs,
    tunName: options.tunName,
    mtu: settings.mtu,
    sessions: settings.sessions,
    logger,
    onUp: options.onUp,
  });
  return { instance: aws.instance, tunnel, ssmEndpoint: aws.ssmEndpoint, destroy: aws.destroy };
}

export interface AwsStreamTunnel {
  readonly instance: FoundInstance;
  readonly tunnel: StreamTunnel;
  destroy(): void;
}

/** `tunnel socks`: the same sessions, carrying streams to an agent in socks mode. */
export async function openAwsStreamTunnel(settings: AwsSessionSettings, logger: Logger, signal?: AbortSignal): Promise<AwsStreamTunnel> {
  const aws = await openAwsSessions(settings, logger, signal);
  return { instance: aws.instance, tunnel: startStreamTunnel({ openChannel: aws.openChannel, logger }), destroy: aws.destroy };
}

async function openAwsSessions(settings: AwsSessionSettings, logger: Logger, signal: AbortSignal | undefined): Promise<AwsSessions> {
  const source = createSourceProvider(settings.profile === undefined ? { kind: "default-chain" } : { kind: "profile", profile: settings.profile }, {
    region: settings.region,
    context: "broker",
  });
  const clients = await tunnelClients({ region: settings.region, profile: settings.profile, credentials: source });
  try {
    const instance = await findInstance({ instanceId: settings.instanceId, tags: settings.tags, ec2: clients.ec2, ssm: clients.ssm, signal });
    logger.info("instance found", { instance: instance.instanceId, name: instance.name, agentVersion: instance.agentVersion });
    const queue = tunnelQueueBounds();
    if (queue.mode === "unbounded") logger.warn(`${TUNNEL_QUEUE_ENV}=unbounded: no drop-tail queue in front of the session (a benchmark switch; latency under load grows without limit)`);
    const calls = sessionCalls({ ssm: clients.ssm, instanceId: instance.instanceId, document: settings.document, agentPort: settings.agentPort, logger });
    // withPortMux: basic mode passes through; AWS-StartPortForwardingSession runs on one smux stream.
    const openChannel = () =>
      withPortMux(
        openDataChannel({
          ...calls,
          credentials: source,
          region: settings.region,
          logger: logger.child({ part: "data-channel" }),
          allowInsecureStreamUrl: insecureStreamUrlFromEnv(),
          streamEndpoint: settings.streamEndpoint,
          maxInFlightBytes: queue.clientInFlightBytes,
        }),
        { logger },
      );
    return { instance, openChannel, ssmEndpoint: clients.ssmEndpoint, destroy: () => clients.destroy() };
  } catch (error) {
    clients.destroy();
    throw error;
  }
}
