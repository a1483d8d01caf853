/**
 * A CONNECT tunnel the proxy does not open: a host with no credential (intercept:
 * credentialed). The policy and address checks have run; the bytes are relayed untouched to
 * the checked address, tried in order until one connects within connect_timeout. The 200 is
 * written only once the upstream is connected, so a failure is still a 502/504 the client sees.
 */
import { connect, type Socket } from "node:net";
import type { IpAddress } from "../../net/ip-address.ts";
import { refusalBytes, upstreamFailed } from "../refusal.ts";
import type { Admitted } from "./admit.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { decisionName } from "./forward-request.ts";
import { logRequest } from "./request-log.ts";
import { tunnelThrough, type UpstreamProxyRoute } from "./upstream-proxy.ts";

export async function opaqueTunnel(runtime: ProxyRuntime, client: Socket, admitted: Admitted, rest: Buffer): Promise<void> {
  const started = performance.now();
  const limits = runtime.state.config.limits;
  const route = runtime.chooseProxy(admitted.target, true);
  const upstream = route ? await throughProxy(route, admitted, limits.connectTimeoutMs) : await dialFirst(admitted.addresses, admitted.target.port, limits.connectTimeoutMs);
  const log = (status: number, bytes?: number, reason?: string) =>
    logRequest(runtime.logger, {
      run: admitted.tenant.name,
      mode: "tunnel",
      method: "CONNECT",
      host: admitted.target.authority,
      status,
      bytes,
      durationMs: performance.now() - started,
      decision: decisionName(admitted),
      reason,
    });
  if (typeof upstream === "string") {
    runtime.metrics.upstreamError(upstream === "timeout" ? "timeout" : "connect");
    const refusal = upstreamFailed(admitted.target.authority, upstream === "timeout");
    client.end(refusalBytes(refusal));
    return log(refusal.status, undefined, refusal.code);
  }
  runtime.metrics.request(admitted.decision.wouldDeny ? "would_deny" : "allowed", []);
  client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
  client.once("close", runtime.metrics.opened("tunnel"));
  if (rest.length > 0) upstream.write(rest);
  for (const socket of [client, upstream]) {
    socket.setTimeout(limits.idleTimeoutMs, () => socket.destroy());
    socket.on("error", () => {});
  }
  let bytes = 0;
  upstream.on("data", (chunk: Buffer) => (bytes += chunk.length));
  client.pipe(upstream).on("close", () => client.destroy());
  upstream.pipe(client).on("close", () => upstream.destroy());
  client.resume();
  await new Promise<void>((resolve) => {
    let open = 2;
    const closed = () => (--open === 0 ? resolve() : undefined);
    client.once("close", () => (upstream.destroy(), closed()));
    upstream.once("close", () => (client.destroy(), closed()));
  });
  log(200, bytes);
}

/** Through the upstream proxy: CONNECT by canonical name (the proxy resolves it; our checks already ran). */
async function throughProxy(route: UpstreamProxyRoute, admitted: Admitted, timeoutMs: number): Promise<Socket | "timeout" | "failed"> {
  const result = await tunnelThrough(route, admitted.target.authority, timeoutMs);
  if ("socket" in result) return result.socket;
  return result.failure === "timeout" ? "timeout" : "failed";
}

async function dialFirst(addresses: readonly IpAddress[], port: number, timeoutMs: number): Promise<Socket | "timeout" | "failed"> {
  let last: "timeout" | "failed" = "failed";
  for (const address of addresses) {
    const result = await dial(address, port, timeoutMs);
    if (typeof result !== "string") return result;
    last = result;
  }
  return last;
}

function dial(address: IpAddress, port: number, timeoutMs: number): Promise<Socket | "timeout" | "failed"> {
  return new Promise((resolve) => {
    const socket = connect({ host: address.text, port, family: address.family });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("timeout");
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", () => {
      clearTimeout(timer);
      resolve("failed");
    });
  });
}
