/**
 * One JSON log line per request (and per opaque tunnel): who (run), what (method, canonical
 * host, path with query values removed), what became of it (status, bytes, duration, the
 * decision) and which credentials went with it, by name. Never a credential value, a token,
 * userinfo or a query value, at any level: query strings often carry keys (`?api_key=`).
 */
import type { Logger } from "../../log.ts";

export interface RequestRecord {
  readonly requestId?: string | undefined;
  readonly run: string | undefined;
  readonly mode: "intercept" | "tunnel" | "plain" | "refused";
  readonly method: string;
  readonly host: string | undefined;
  readonly path?: string | undefined;
  readonly status: number;
  readonly bytes?: number | undefined;
  readonly durationMs: number;
  readonly decision: string;
  readonly credentials?: readonly string[] | undefined;
  readonly reason?: string | undefined;
}

export function logRequest(logger: Logger, record: RequestRecord): void {
  const fields = {
    request_id: record.requestId,
    run: record.run,
    mode: record.mode,
    method: record.method,
    host: record.host,
    path: record.path === undefined ? undefined : pathWithoutQueryValues(record.path),
    status: record.status,
    bytes: record.bytes,
    duration_ms: Math.round(record.durationMs * 10) / 10,
    decision: record.decision,
    credentials: record.credentials && record.credentials.length > 0 ? record.credentials : undefined,
    reason: record.reason,
  };
  if (record.status >= 400 && record.mode === "refused") logger.warn("request refused", fields);
  else logger.info("request", fields);
}

/** `/search?q=secret&page=2#x` → `/search?q=…&page=…`: the names of the parameters, no values, no fragment. */
export function pathWithoutQueryValues(path: string): string {
  const hash = path.indexOf("#");
  const bare = hash < 0 ? path : path.slice(0, hash);
  const q = bare.indexOf("?");
  if (q < 0) return bare;
  const names = bare
    .slice(q + 1)
    .split("&")
    .filter((p) => p !== "")
    .map((p) => `${p.split("=", 1)[0]!.slice(0, 64)}=…`);
  return `${bare.slice(0, q)}?${names.join("&")}`;
}
