/**
 * An HTTP/1.1 Upgrade (WebSocket) inside an intercepted tunnel: the upgrade request is
 * checked and given its credentials like any request, then, once the upstream answers 101,
 * the two sockets are joined and frames pass untouched. An upstream that declines answers
 * the client with its own response.
 */
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { responseHeaders } from "../forward-headers.ts";
import { refusalBytes, type Refusal } from "../refusal.ts";
import { selectCredentials } from "../select-credentials.ts";
import { awsSignedUpgrade } from "./aws-signing.ts";
import { credentialValues } from "./credential-injections.ts";
import { placeholderStep } from "../placeholders/placeholder-step.ts";
import { substitutedRequest } from "./substituted-request.ts";
import { decisionName, failureRefusal, pairs, upstreamHeaders } from "./forward-request.ts";
import { canonicalHostHeader, innerTargetRefusal } from "./inner-target.ts";
import type { TunnelInfo } from "./intercept-tunnel.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";
import { logRequest } from "./request-log.ts";
import { upstreamRequest } from "./upstream-request.ts";

export async function forwardUpgrade(runtime: ProxyRuntime, req: IncomingMessage, client: Socket, head: Buffer, info: TunnelInfo): Promise<void> {
  const started = performance.now();
  const { admitted } = info;
  const path = req.url ?? "/";
  const log = (status: number, credentials: readonly string[], reason?: string) =>
    logRequest(runtime.logger, {
      run: admitted.tenant.name,
      mode: "intercept",
      method: req.method ?? "GET",
      host: admitted.target.authority,
      path,
      status,
      durationMs: performance.now() - started,
      decision: decisionName(admitted),
      credentials,
      reason,
    });
  client.on("error", () => {});
  const refusal = innerTargetRefusal(req, admitted.target, info) ?? (path.startsWith("/") ? undefined : badTarget()) ?? awsSignedUpgrade(pairs(req.rawHeaders), admitted.tenant, admitted.target, path);
  if (refusal) {
    client.end(refusalBytes(refusal));
    return log(refusal.status, [], refusal.code);
  }
  const step = placeholderStep(admitted.tenant, { target: admitted.target, plaintext: !info.tls, path, rawHeaders: req.rawHeaders });
  const swapped = step.kind === "none" ? { path, rawHeaders: req.rawHeaders, credentials: [] } : await substitutedRequest(runtime, step, { path, rawHeaders: req.rawHeaders });
  if ("refusal" in swapped) {
    client.end(refusalBytes(swapped.refusal));
    return log(swapped.refusal.status, swapped.credentials, swapped.refusal.code);
  }
  const credentials = selectCredentials(admitted.tenant.credentials, { host: admitted.target.host, port: admitted.target.port, plaintext: !info.tls });
  const names = [...swapped.credentials, ...credentials.map((c) => c.name)];
  const injections = await credentialValues(runtime, credentials);
  if ("refusal" in injections) {
    client.end(refusalBytes(injections.refusal));
    return log(502, names, "credential-unavailable");
  }
  const headers = upstreamHeaders(swapped.rawHeaders, injections, canonicalHostHeader(admitted.target, info.tls), { upgrade: true });
  const call = upstreamRequest(runtime, admitted, { tls: info.tls, method: req.method ?? "GET", path: swapped.path, headers, upgrade: true });
  const joined = new Promise<{ socket: Socket; head: Buffer } | undefined>((resolve) => {
    call.request.once("upgrade", (_res: IncomingMessage, socket: Socket, upHead: Buffer) => resolve({ socket, head: upHead }));
    call.request.once("response", () => resolve(undefined));
    call.request.once("error", () => resolve(undefined));
  });
  call.request.end();
  client.once("close", () => call.request.destroy());
  const response = await call.response;
  if ("kind" in response) {
    runtime.metrics.upstreamError(response.kind);
    client.end(refusalBytes(failureRefusal(admitted, response)));
    return log(response.kind === "timeout" ? 504 : 502, names, `upstream-${response.kind}`);
  }
  runtime.metrics.request("allowed", names);
  const status = response.statusCode ?? 502;
  const lines = [`HTTP/1.1 ${status} ${response.statusMessage ?? ""}`, ...responseHeaders(pairs(response.rawHeaders), { upgrade: status === 101 }).map(([n, v]) => `${n}: ${v}`)];
  const upgraded = await joined;
  if (!upgraded) {
    client.write(lines.join("\r\n") + "\r\n\r\n");
    response.pipe(client);
    return log(status, names);
  }
  client.write(lines.join("\r\n") + "\r\n\r\n");
  if (upgraded.head.length > 0) client.write(upgraded.head);
  if (head.length > 0) upgraded.socket.write(head);
  upgraded.socket.on("error", () => client.destroy());
  upgraded.socket.pipe(client);
  client.pipe(upgraded.socket);
  upgraded.socket.once("close", () => client.destroy());
  client.once("close", () => upgraded.socket.destroy());
  log(101, names);
}

function badTarget(): Refusal {
  return { status: 400, code: "bad-target", message: "credproxy refused the request: inside a tunnel, requests take a /path." };
}
