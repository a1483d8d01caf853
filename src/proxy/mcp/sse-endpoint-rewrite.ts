/**
 * Server-Sent Events from an MCP server on their way to the client, one event at a time:
 * each event is passed on as soon as its closing blank line arrives (a client dispatches
 * nothing before that, so holding the partial event costs no latency), and an `endpoint`
 * event, the old SSE transport's "POST your messages here", gets its URL rewritten so the
 * client posts back through the proxy, where the credential is added.
 */
import { StringDecoder } from "node:string_decoder";
import { Transform, type TransformCallback } from "node:stream";

/** An event larger than this is passed on raw as it arrives; no endpoint event is that big. */
const MAX_HELD_EVENT = 1024 * 1024;

export function sseEndpointRewriter(rewrite: (endpoint: string) => string): Transform {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  let event: string[] = [];
  let held = 0;
  let raw = false;
  const lines = (final: boolean, push: (text: string) => void) => {
    let at = 0;
    for (;;) {
      const end = lineEnd(pending, at, final);
      if (end === undefined) break;
      const line = pending.slice(at, end.index);
      const whole = pending.slice(at, end.index + end.length);
      at = end.index + end.length;
      if (raw) {
        push(whole);
        if (line === "") raw = false;
        continue;
      }
      event.push(whole);
      held += whole.length;
      if (line === "") {
        push(rewritten(event, rewrite));
        event = [];
        held = 0;
      } else if (held > MAX_HELD_EVENT) {
        push(event.join(""));
        event = [];
        held = 0;
        raw = true;
      }
    }
    pending = pending.slice(at);
    if (raw && pending.length > 0 && !pending.endsWith("\r")) {
      push(pending);
      pending = "";
    }
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      pending += decoder.write(chunk);
      lines(false, (text) => this.push(text));
      done();
    },
    flush(done: TransformCallback) {
      pending += decoder.end();
      lines(true, (text) => this.push(text));
      const tail = event.join("") + pending;
      if (tail !== "") this.push(tail);
      done();
    },
  });
}

/** The next line terminator (CRLF, LF or CR) at or after `from`; a CR at the very end waits for its LF unless `final`. */
function lineEnd(text: string, from: number, final: boolean): { index: number; length: number } | undefined {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) return { index: i, length: 1 };
    if (c !== 13) continue;
    if (i + 1 < text.length) return { index: i, length: text.charCodeAt(i + 1) === 10 ? 2 : 1 };
    return final ? { index: i, length: 1 } : undefined;
  }
  return undefined;
}

/** The event as received, unless it is an `endpoint` event: then its data (one line) is the rewritten URL. */
function rewritten(lines: readonly string[], rewrite: (endpoint: string) => string): string {
  const fields = lines.map((l) => field(l.replace(/\r?\n$|\r$/, "")));
  if (!fields.some((f) => f?.name === "event" && f.value === "endpoint")) return lines.join("");
  const data = fields.filter((f) => f?.name === "data").map((f) => f!.value).join("\n");
  const out: string[] = [];
  let placed = false;
  lines.forEach((line, i) => {
    if (fields[i]?.name !== "data") return void out.push(line);
    if (!placed) out.push(`data: ${rewrite(data)}\n`);
    placed = true;
  });
  return out.join("");
}

/** An SSE field line: name, colon, one optional space, value (a line without a colon is a name with an empty value). */
function field(line: string): { name: string; value: string } | undefined {
  if (line === "" || line.startsWith(":")) return undefined;
  const colon = line.indexOf(":");
  if (colon < 0) return { name: line, value: "" };
  const value = line.slice(colon + 1);
  return { name: line.slice(0, colon), value: value.startsWith(" ") ? value.slice(1) : value };
}
