/**
 * The first request head a client sends the proxy, read on the raw listener before anything is
 * dialled: a CONNECT (authority-form target), a plain-HTTP proxy request (absolute-form
 * `http://…`), or a request to the proxy itself (origin-form, e.g. GET /_credproxy/health).
 *
 * It is strict on purpose. A head that another parser further along (the upstream, a
 * corporate proxy) could read differently is refused, not guessed at: several Host fields,
 * Content-Length beside Transfer-Encoding, differing Content-Lengths, obs-fold, bare CR or LF.
 */

export type TargetForm = "authority" | "absolute" | "origin";

export interface ProxyRequestHead {
  readonly method: string;
  /** The request-target exactly as sent. */
  readonly target: string;
  readonly form: TargetForm;
  /** "1.0" or "1.1". */
  readonly version: string;
  /** Field lines in order, names lower-cased, values trimmed. */
  readonly headers: readonly (readonly [string, string])[];
}

export interface HeadRefusal {
  readonly status: 400 | 405 | 505;
  readonly code: string;
  readonly reason: string;
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/(\d)\.(\d)$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\x00-\x08\x0a-\x1f\x7f]*)$/;
/** Methods that echo the request, credentials included, back to the sender. */
const ECHO_METHODS = new Set(["TRACE", "TRACK"]);

export function parseProxyRequestHead(head: string): ProxyRequestHead | HeadRefusal {
  const lines = head.split("\r\n");
  if (lines.some((line) => line.includes("\r") || line.includes("\n"))) return refuse(400, "bad-head", "the request head has a bare CR or LF");
  const line = REQUEST_LINE.exec(lines[0]!);
  if (!line) return refuse(400, "bad-request-line", "the request line is not METHOD SP TARGET SP HTTP/1.x");
  const [, method, target, major, minor] = line as unknown as [string, string, string, string, string];
  if (major !== "1" || (minor !== "0" && minor !== "1")) return refuse(505, "bad-version", `HTTP/${major}.${minor} is not spoken here; use HTTP/1.1`);
  const echo = echoMethodRefusal(method);
  if (echo) return echo;
  const headers = parseFields(lines.slice(1));
  if ("reason" in headers) return headers;
  const framing = checkFraming(headers);
  if (framing) return framing;
  const form = targetForm(method, target);
  if (typeof form !== "string") return form;
  return { method, target, form, version: `${major}.${minor}`, headers };
}

/** 405 for TRACE and TRACK: on every request, not only a connection's first (the upstream would echo the injected credential). */
export function echoMethodRefusal(method: string): HeadRefusal | undefined {
  return ECHO_METHODS.has(method.toUpperCase()) ? refuse(405, "method-not-allowed", `${method} echoes the request, and any credential in it, back to the sender`) : undefined;
}

/** The value of a field that may occur once; undefined when absent. */
export function headerValue(head: ProxyRequestHead, name: string): string | undefined {
  return head.headers.find(([n]) => n === name)?.[1];
}

function parseFields(lines: readonly string[]): [string, string][] | HeadRefusal {
  const fields: [string, string][] = [];
  for (const line of lines) {
    const field = FIELD_LINE.exec(line);
    if (!field) return refuse(400, "bad-header", line.startsWith(" ") || line.startsWith("\t") ? "a header line is folded (obs-fold)" : "a header line is not NAME: VALUE");
    fields.push([field[1]!.toLowerCase(), field[2]!.replace(/^[ \t]+|[ \t]+$/g, "")]);
  }
  return fields;
}

function checkFraming(headers: readonly (readonly [string, string])[]): HeadRefusal | undefined {
  const all = (name: string) => headers.filter(([n]) => n === name).map(([, v]) => v);
  if (all("host").length > 1) return refuse(400, "bad-host", "the request has more than one Host header");
  const lengths = all("content-length").flatMap((v) => v.split(",").map((x) => x.trim()));
  if (lengths.some((v) => !/^\d{1,15}$/.test(v)) || new Set(lengths).size > 1) return refuse(400, "bad-framing", "Content-Length is malformed or given twice with different values");
  const codings = all("transfer-encoding");
  if (codings.length > 0 && lengths.length > 0) return refuse(400, "bad-framing", "the request has both Transfer-Encoding and Content-Length");
  if (codings.length > 0 && codings.join(",").split(",").map((c) => c.trim().toLowerCase()).at(-1) !== "chunked") {
    return refuse(400, "bad-framing", "Transfer-Encoding must end in chunked");
  }
  return undefined;
}

function targetForm(method: string, target: string): TargetForm | HeadRefusal {
  if (method === "CONNECT") {
    return /^[^/?#@]+$/.test(target) ? "authority" : refuse(400, "bad-authority", "CONNECT takes host:port, with no scheme, path or userinfo");
  }
  if (target.startsWith("/")) return "origin";
  if (/^http:\/\//i.test(target)) return "absolute";
  if (/^https:\/\//i.test(target)) return refuse(400, "use-connect", "an https:// URL is fetched through a CONNECT tunnel; send CONNECT host:443");
  return refuse(400, "bad-target", "the request target is neither http://host/path, /path nor (for CONNECT) host:port");
}

function refuse(status: HeadRefusal["status"], code: string, reason: string): HeadRefusal {
  return { status, code, reason };
}
