/**
 * The chunked transfer coding (RFC 9112 §7.1) of an upstream's response body, decoded as it
 * arrives and strictly: a size line is hex digits (at most 15) with an optional extension,
 * every line ends in CRLF (a bare LF or CR is an error, not a line end), the data is followed
 * by CRLF, and trailer fields are well-formed and dropped. Lines are bounded, so an upstream
 * cannot make the proxy buffer without limit.
 */

const SIZE_LINE = /^([0-9A-Fa-f]{1,15})(?:[\t ]*;[\t\x20-\x7e\x80-\xff]*)?$/;
const TRAILER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;
const MAX_LINE = 4096;
const MAX_TRAILERS = 64 * 1024;
const CR = 0x0d;
const LF = 0x0a;

export type Decoded = { readonly data: Buffer[]; readonly done: boolean; readonly extra: boolean } | { readonly error: string };

export class ChunkedDecoder {
  #state: "size" | "data" | "cr" | "lf" | "trailer" | "done" = "size";
  #line = "";
  #remaining = 0;
  #trailerBytes = 0;

  /** The body bytes in `chunk`; done once the last chunk and the trailers are in (extra: bytes came after them). */
  feed(chunk: Buffer): Decoded {
    const data: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === "done") return { data, done: true, extra: true };
      if (this.#state === "data") {
        const take = Math.min(this.#remaining, chunk.length - i);
        data.push(chunk.subarray(i, i + take));
        this.#remaining -= take;
        i += take;
        if (this.#remaining === 0) this.#state = "cr";
        continue;
      }
      if (this.#state === "cr" || this.#state === "lf") {
        if (chunk[i] !== (this.#state === "cr" ? CR : LF)) return { error: "chunk data not followed by CRLF" };
        this.#state = this.#state === "cr" ? "lf" : "size";
        i++;
        continue;
      }
      const lf = chunk.indexOf(LF, i);
      const end = lf < 0 ? chunk.length : lf;
      this.#line += chunk.toString("latin1", i, end);
      if (this.#line.length > MAX_LINE) return { error: "chunk line too long" };
      i = end;
      if (lf < 0) break;
      i++;
      const line = this.#line;
      this.#line = "";
      if (!line.endsWith("\r")) return { error: "bare LF in chunked framing" };
      const problem = this.#onLine(line.slice(0, -1));
      if (problem) return { error: problem };
      if ((this.#state as string) === "done") return { data, done: true, extra: i < chunk.length };
    }
    return { data, done: this.#state === "done", extra: false };
  }

  #onLine(line: string): string | undefined {
    if (line.includes("\r")) return "bare CR in chunked framing";
    if (this.#state === "trailer") {
      if (line === "") return void (this.#state = "done");
      this.#trailerBytes += line.length;
      if (this.#trailerBytes > MAX_TRAILERS || !TRAILER_LINE.test(line)) return "bad trailer field";
      return undefined;
    }
    const size = SIZE_LINE.exec(line);
    if (!size) return "bad chunk size line";
    this.#remaining = parseInt(size[1]!, 16);
    this.#state = this.#remaining === 0 ? "trailer" : "data";
    return undefined;
  }
}
