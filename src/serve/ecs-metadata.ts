import type { ServerConfig } from "../config/types.ts";
import { json } from "../http/json.ts";
import { listen, type Handler, type Listener, type Routes } from "../http/listen.ts";
import { guardRoutes, hostLocalPeers, withLocalPeer } from "../http/local-peer.ts";
import type { Logger } from "../log.ts";
import { addLoopbackAliases } from "../net/loopback-address.ts";

/**
 * `server.ecs_metadata`: puts the ECS metadata address(es) on the loopback interface and serves
 * the same routes there on port 80, so containers can use AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 * (base http://169.254.170.2) without a socat sidecar. Only addresses credproxy added are
 * removed again, on stop and, as a last resort, on process exit.
 *
 * The metadata address is for this network namespace (the pod's containers, which reach it over
 * lo): a peer from elsewhere, routed here through a veth or bridge, gets a 403 and a warning.
 */
export async function ecsMetadataListeners(
  settings: NonNullable<ServerConfig["ecsMetadata"]>,
  mainPort: number,
  routes: Routes,
  fetch: Handler,
  log: Logger,
): Promise<{ listeners: Listener[]; added: boolean; remove(): void }> {
  const aliases = await addLoopbackAliases([...settings.addresses], {
    fallbackPort: mainPort, // the hint then names the real FULL_URI to use instead
    onRemoveError: (alias, error) => log.warn("could not remove the ECS metadata address from lo", { address: alias.address, error }),
    onLeftoverRemoved: (left) =>
      left.outcome === "removed"
        ? log.warn("removed a loopback address a previous credproxy run left behind", { address: left.address, pid: left.pid })
        : log.warn("cannot remove a loopback address a previous credproxy run left behind", { address: left.address, pid: left.pid, error: left.error }),
  });
  process.once("exit", aliases.remove);
  const peers = hostLocalPeers({ extra: settings.addresses });
  const guard = (next: Handler): Handler =>
    withLocalPeer(next, peers, (peer) => {
      log.warn("ECS metadata request refused: the peer is not on this host", { peer });
      return json({ error: "Forbidden: the ECS metadata address answers only this host" }, 403);
    });
  const guardedRoutes = guardRoutes(routes, guard);
  const guardedFetch = guard(fetch);
  const listeners: Listener[] = [];
  try {
    for (const address of settings.addresses) {
      listeners.push(
        listen({ name: "ECS metadata listener", hostname: address, port: settings.port, routes: guardedRoutes, fetch: guardedFetch, configKey: "server.ecs_metadata.port" }),
      );
    }
  } catch (error) {
    await Promise.all(listeners.map((l) => l.stop(0)));
    aliases.remove();
    throw error;
  }
  for (const alias of aliases.aliases) {
    log.info(alias.added ? "added ECS metadata address to lo" : "ECS metadata address was already on lo; leaving it", { address: alias.address });
  }
  return { listeners, added: aliases.aliases.some((a) => a.added), remove: aliases.remove };
}
