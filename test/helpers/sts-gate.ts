/**
 * A fault-injection gate in front of moto's STS.
 *
 * Every request is forwarded unchanged — method, path, query, body and the ORIGINAL Host
 * header — so a SigV4 signature made for the gate's address still verifies at a validating
 * moto (the Host header is part of what is signed). Along the way the gate counts and logs
 * AssumeRole calls and can misbehave on demand:
 *
 *   mode "up"        forward (default)
 *        "error503"  answer 503 with an STS-style ServiceUnavailable XML body
 *        "refuse"    close the listener and every open connection: new connections get
 *                    ECONNREFUSED. Switching back re-listens on the same port.
 *        "hang"      hold requests without answering until the mode changes (then they are
 *                    handled under the new mode) or the gate stops
 *   delayMs          wait this long before handling each request
 *   ttlSeconds       rewrite <Expiration> in successful AssumeRole responses to now + ttl
 *   accessDenied     answer AssumeRole with 403 AccessDenied (other actions still forwarded)
 *
 * `down = true` is shorthand for mode "error503"; `down = false` for "up".
 */
import type { Server } from "bun";
import { randomUUID } from "node:crypto";
import { assertLoopback } from "./loopback.ts";
import { onCleanup } from "./cleanup.ts";
import { Condition, deferred, type Deferred } from "./wait.ts";

export type GateMode = "up" | "error503" | "refuse" | "hang";

export type GateOutcome = "pending" | "forwarded" | "error503" | "accessDenied" | "upstreamError" | "dropped";

/** One AssumeRole call as the gate saw it. */
export interface AssumeRoleCall {
  seq: number;
  at: Date;
  /** Every form/query parameter, verbatim. */
  params: Record<string, string>;
  roleArn: string | undefined;
  roleSessionName: string | undefined;
  durationSeconds: number | undefined;
  externalId: string | undefined;
  /** From Tags.member.N.Key/Value. */
  tags: Record<string, string>;
  transitiveTagKeys: string[];
  sourceIdentity: string | undefined;
  policy: string | undefined;
  /** The access key in the Authorization header's credential scope. */
  accessKeyId: string | undefined;
  /** Whether the caller sent X-Amz-Security-Token (i.e. signed with temporary credentials). */
  withSessionToken: boolean;
  userAgent: string | undefined;
  /** Filled in when answered. */
  status: number | undefined;
  outcome: GateOutcome;
  /** <Expiration> as sent back to the caller (after any ttl rewrite). */
  expiration: string | undefined;
  durationMs: number | undefined;
}

/** Every request, AssumeRole or not. */
export interface GateRequest {
  seq: number;
  at: Date;
  method: string;
  path: string;
  action: string | undefined;
  status: number | undefined;
  outcome: GateOutcome;
}

export interface Gate {
  /** `http://127.0.0.1:<port>`, stable across "refuse" ↔ "up". */
  readonly endpoint: string;
  readonly port: number;
  readonly upstream: string;
  mode: GateMode;
  down: boolean;
  delayMs: number;
  ttlSeconds: number | undefined;
  accessDenied: boolean;
  /** AssumeRole calls that reached the gate (whatever the answer). */
  readonly assumeRoleCalls: number;
  readonly calls: readonly AssumeRoleCall[];
  readonly requests: readonly GateRequest[];
  /** Resolves once at least n AssumeRole calls have arrived (event-driven). */
  waitForAssumeRoleCalls(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves once `check` holds; re-checked on every arrival and answer. */
  until(check: (gate: Gate) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Knobs back to defaults and logs cleared. */
  reset(): void;
  stop(): Promise<void>;
}

export interface GateOptions {
  /**
   * Keep the client's Host header when forwarding (default true). false rewrites it to the
   * upstream's host, which breaks SigV4 at a validating moto; it exists to prove that.
   */
  preserveHost?: boolean;
}

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "content-length"];

export function stsErrorXml(type: "Sender" | "Receiver", code: string, message: string, requestId: string): string {
  return (
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n` +
    `  <Error>\n    <Type>${type}</Type>\n    <Code>${code}</Code>\n    <Message>${escapeXml(message)}</Message>\n  </Error>\n` +
    `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`
  );
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] ?? c);
}

function xmlResponse(status: number, body: string, requestId: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/xml", "x-amzn-requestid": requestId } });
}

function parseParams(body: Uint8Array | undefined, contentType: string | null, query: URLSearchParams): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [k, v] of query) params[k] = v;
  if (body !== undefined && body.length > 0 && (contentType ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    for (const [k, v] of new URLSearchParams(new TextDecoder().decode(body))) params[k] = v;
  }
  return params;
}

function tagsOf(params: Record<string, string>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const m = /^Tags\.member\.(\d+)\.Key$/.exec(k);
    if (m) tags[v] = params[`Tags.member.${m[1]}.Value`] ?? "";
  }
  return tags;
}

function listOf(params: Record<string, string>, prefix: string): string[] {
  return Object.entries(params)
    .filter(([k]) => k.startsWith(`${prefix}.member.`))
    .sort(([a], [b]) => Number(a.split(".").pop()) - Number(b.split(".").pop()))
    .map(([, v]) => v);
}

/** STS-style timestamp: whole seconds, `Z`. */
export function stsTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export async function startStsGate(upstream: string, options: GateOptions = {}): Promise<Gate> {
  const upstreamUrl = assertLoopback(upstream);
  const preserveHost = options.preserveHost ?? true;
  const changed = new Condition();

  let mode: GateMode = "up";
  let delayMs = 0;
  let ttlSeconds: number | undefined;
  let accessDenied = false;
  let calls: AssumeRoleCall[] = [];
  let requests: GateRequest[] = [];
  let assumeRoleCount = 0;
  let requestSeq = 0;
  let hangRelease: Deferred<void> = deferred<void>();
  let stopped = false;

  const handle = async (req: Request): Promise<Response> => {
    const started = performance.now();
    const url = new URL(req.url);
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : new Uint8Array(await req.arrayBuffer());
    const params = parseParams(body, req.headers.get("content-type"), url.searchParams);
    const action = params.Action;
    const entry: GateRequest = { seq: ++requestSeq, at: new Date(), method: req.method, path: url.pathname, action, status: undefined, outcome: "pending" };
    requests.push(entry);
    let call: AssumeRoleCall | undefined;
    if (action === "AssumeRole") {
      const auth = req.headers.get("authorization") ?? "";
      const duration = params.DurationSeconds;
      call = {
        seq: ++assumeRoleCount,
        at: entry.at,
        params,
        roleArn: params.RoleArn,
        roleSessionName: params.RoleSessionName,
        durationSeconds: duration === undefined ? undefined : Number(duration),
        externalId: params.ExternalId,
        tags: tagsOf(params),
        transitiveTagKeys: listOf(params, "TransitiveTagKeys"),
        sourceIdentity: params.SourceIdentity,
        policy: params.Policy,
        accessKeyId: /Credential=([^/,\s]+)\//.exec(auth)?.[1],
        withSessionToken: req.headers.has("x-amz-security-token"),
        userAgent: req.headers.get("user-agent") ?? undefined,
        status: undefined,
        outcome: "pending",
        expiration: undefined,
        durationMs: undefined,
      };
      calls.push(call);
    }
    changed.notify();

    const finish = (res: Response, outcome: GateOutcome, expiration?: string): Response => {
      entry.status = res.status;
      entry.outcome = outcome;
      if (call) {
        call.status = res.status;
        call.outcome = outcome;
        call.expiration = expiration;
        call.durationMs = performance.now() - started;
      }
      changed.notify();
      return res;
    };

    if (delayMs > 0) await Bun.sleep(delayMs);
    while (mode === "hang" && !stopped) await hangRelease.promise;
    const requestId = randomUUID();
    if (stopped || mode === "refuse") {
      // The connection was closed under us; this answer goes nowhere.
      return finish(xmlResponse(503, stsErrorXml("Receiver", "ServiceUnavailable", "sts-gate closed", requestId), requestId), "dropped");
    }
    if (mode === "error503") {
      return finish(
        xmlResponse(503, stsErrorXml("Receiver", "ServiceUnavailable", "Service is unavailable (sts-gate fault injection)", requestId), requestId),
        "error503",
      );
    }
    if (call && accessDenied) {
      const who = call.accessKeyId ?? "caller";
      return finish(
        xmlResponse(
          403,
          stsErrorXml("Sender", "AccessDenied", `User: ${who} is not authorized to perform: sts:AssumeRole on resource: ${call.roleArn ?? "?"} (sts-gate fault injection)`, requestId),
          requestId,
        ),
        "accessDenied",
      );
    }

    const headers = new Headers(req.headers);
    for (const h of HOP_BY_HOP) headers.delete(h);
    if (!preserveHost) headers.set("host", upstreamUrl.host);
    let upstreamRes: Response;
    let text: Uint8Array;
    try {
      const init: RequestInit = { method: req.method, headers, redirect: "manual" };
      if (body !== undefined) init.body = body;
      upstreamRes = await fetch(new URL(url.pathname + url.search, upstreamUrl), init);
      text = new Uint8Array(await upstreamRes.arrayBuffer());
    } catch (err) {
      return finish(xmlResponse(502, stsErrorXml("Receiver", "GateUpstreamError", `sts-gate could not reach ${upstream}: ${String(err)}`, requestId), requestId), "upstreamError");
    }
    const outHeaders = new Headers(upstreamRes.headers);
    for (const h of [...HOP_BY_HOP, "content-encoding"]) outHeaders.delete(h);
    let expiration: string | undefined;
    let outBody: Uint8Array | string = text;
    if (call && upstreamRes.status === 200) {
      let xml = new TextDecoder().decode(text);
      if (ttlSeconds !== undefined) {
        const rewritten = stsTimestamp(Date.now() + ttlSeconds * 1000);
        xml = xml.replace(/<Expiration>[^<]*<\/Expiration>/, `<Expiration>${rewritten}</Expiration>`);
      }
      expiration = /<Expiration>([^<]*)<\/Expiration>/.exec(xml)?.[1];
      outBody = xml;
    }
    return finish(new Response(outBody, { status: upstreamRes.status, headers: outHeaders }), "forwarded", expiration);
  };

  const listen = (port: number): Server<undefined> =>
    Bun.serve({
      hostname: "127.0.0.1",
      port,
      development: false,
      // "hang" must be able to hold a request for as long as a test wants.
      idleTimeout: 0,
      fetch: handle,
      error(err) {
        const id = randomUUID();
        return xmlResponse(500, stsErrorXml("Receiver", "GateInternalError", String(err), id), id);
      },
    });

  let server: Server<undefined> | undefined = listen(0);
  const port = server.port ?? 0;
  const endpoint = `http://127.0.0.1:${port}`;

  const setMode = (next: GateMode): void => {
    if (stopped) throw new Error("sts-gate is stopped");
    const prev = mode;
    if (next === prev) return;
    mode = next;
    if (next === "refuse" && server) {
      void server.stop(true).catch(() => undefined);
      server = undefined;
    }
    if (prev === "refuse" && !server) server = listen(port);
    if (next === "hang") hangRelease = deferred<void>();
    if (prev === "hang") hangRelease.resolve();
  };

  let unregister = (): void => undefined;
  const gate: Gate = {
    endpoint,
    port,
    upstream,
    get mode() {
      return mode;
    },
    set mode(next: GateMode) {
      setMode(next);
    },
    get down() {
      return mode !== "up";
    },
    set down(value: boolean) {
      setMode(value ? "error503" : "up");
    },
    get delayMs() {
      return delayMs;
    },
    set delayMs(v: number) {
      delayMs = v;
    },
    get ttlSeconds() {
      return ttlSeconds;
    },
    set ttlSeconds(v: number | undefined) {
      ttlSeconds = v;
    },
    get accessDenied() {
      return accessDenied;
    },
    set accessDenied(v: boolean) {
      accessDenied = v;
    },
    get assumeRoleCalls() {
      return assumeRoleCount;
    },
    get calls() {
      return calls;
    },
    get requests() {
      return requests;
    },
    waitForAssumeRoleCalls(n: number, timeoutMs = 10_000) {
      return changed.until(() => assumeRoleCount >= n, timeoutMs, `${n} AssumeRole call(s) at the sts-gate (saw ${assumeRoleCount})`);
    },
    until(check, timeoutMs = 10_000, what = "sts-gate condition") {
      return changed.until(() => check(gate), timeoutMs, what);
    },
    reset() {
      setMode("up");
      delayMs = 0;
      ttlSeconds = undefined;
      accessDenied = false;
      calls = [];
      requests = [];
      assumeRoleCount = 0;
      requestSeq = 0;
    },
    async stop() {
      if (stopped) return;
      unregister();
      stopped = true;
      hangRelease.resolve();
      const s = server;
      server = undefined;
      if (s) await s.stop(true);
    },
  };
  unregister = onCleanup(`sts-gate ${port}`, () => gate.stop());
  return gate;
}
