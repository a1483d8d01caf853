/**
 * The request line and header fields of one HTTP/1.1 request head (RFC 9112 §3, §5), checked as
 * strictly as a server that answers a handful of local clients can afford: a head that some
 * other parser in the path could read differently is refused rather than guessed at.
 */

export type ParsedRequest = { method: string; path: string; keepAlive: boolean };

/** `method SP request-target SP HTTP-version`; the target is checked on its own. */
const REQUEST_LINE = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/;
/** Visible ASCII only: no spaces, controls or bytes above 0x7E in a request-target. */
const TARGET = /^[\x21-\x7e]+$/;
/**
 * `field-name ":" field-value`: the name is a token (RFC 9110 §5.1, §5.6.2) directly followed by
 * the colon, and the value holds no control character but HTAB (so no CR, LF or NUL). A line
 * that starts with SP or HTAB (obs-fold) fails the name.
 */
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\x00-\x08\x0a-\x1f\x7f]*)$/;

/**
 * Reads a head (without the empty line that ends it, lines split on CRLF, bytes as latin1).
 * Anything announcing a body is refused: the routes take none, and not reading one keeps the
 * parser this small.
 *
 * @example
 * parseRequestHead("GET /x?y HTTP/1.1\r\nHost: a") // { method: "GET", path: "/x", keepAlive: true }
 * parseRequestHead("GET / HTTP/1.1\r\nTransfer-Encoding : chunked") // { error: "malformed header line" }
 */
export function parseRequestHead(head: string): ParsedRequest | { error: string } {
  const lines = head.replace(/^(\r\n)+/, "").split("\r\n");
  const line = REQUEST_LINE.exec(lines[0] ?? "");
  if (!line) return { error: "malformed request line" };
  const [, method, target, minor] = line as unknown as [string, string, string, string];
  if (!TARGET.test(target)) return { error: "malformed request target" };
  let connection = "";
  for (const header of lines.slice(1)) {
    const field = FIELD_LINE.exec(header);
    if (!field) return { error: "malformed header line" };
    const name = field[1]!.toLowerCase();
    const value = field[2]!.replace(/^[ \t]+|[ \t]+$/g, "");
    if (name === "transfer-encoding" || (name === "content-length" && value !== "0")) return { error: "request bodies are not accepted" };
    if (name === "connection") connection += `,${value.toLowerCase()}`;
  }
  let path: string;
  if (target.startsWith("/")) {
    path = target.split(/[?#]/, 1)[0]!;
  } else if (/^http:\/\//i.test(target)) {
    try {
      path = new URL(target).pathname;
    } catch {
      return { error: "malformed request target" };
    }
  } else {
    return { error: "malformed request target" };
  }
  const tokens = connection.split(",").map((t) => t.trim());
  const keepAlive = minor === "1" ? !tokens.includes("close") : tokens.includes("keep-alive");
  return { method, path, keepAlive };
}
