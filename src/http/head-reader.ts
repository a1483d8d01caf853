/**
 * The bytes a connection has received but not yet parsed, and the search for the end of the next
 * request head in them. Chunks are copied once into a buffer that grows by doubling and is
 * consumed from the front, and the search resumes where it stopped: a head that arrives a byte
 * at a time costs linear time, not the quadratic copying of concatenating on every chunk.
 */

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);

export type NextHead = { head: string } | { error: "bare LF" | "too large" } | undefined;

/**
 * @example
 * const reader = new HeadReader();
 * reader.push(chunk);
 * const next = reader.next(16 * 1024); // { head: "GET / HTTP/1.1\r\nHost: x" }, or undefined until it has all arrived
 */
export class HeadReader {
  #buffer: Buffer = EMPTY;
  /** The unread bytes are `#buffer[#start, #end)`. */
  #start = 0;
  #end = 0;
  /** Where the line being searched starts, and where the search for a LF goes on from. */
  #line = 0;
  #searched = 0;

  /** How many bytes are held, unread. */
  get size(): number {
    return this.#end - this.#start;
  }

  /** Copies `chunk` in (its memory may be reused once the caller returns). */
  push(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buffer.length) this.#makeRoom(chunk.length);
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Takes every unread byte off (a copy) and forgets them: what follows a head that ends the parsing. */
  takeRest(): Buffer {
    const rest = Buffer.from(this.#buffer.subarray(this.#start, this.#end));
    this.clear();
    return rest;
  }

  /** Forgets everything held. */
  clear(): void {
    this.#buffer = EMPTY;
    this.#start = this.#end = this.#line = this.#searched = 0;
  }

  /**
   * Takes the next head off the front: its lines up to, not including, the CRLF CRLF that ends
   * it (so empty lines before a request line stay in it). `bare LF` at a LF not right after a CR
   * (RFC 9112 §2.2 lets a server refuse these; it is refused wherever it is, so no request reads
   * differently here than to a proxy that splits on LF); `too large` once the head is more than
   * `max` bytes; undefined while it has not all arrived.
   */
  next(max: number): NextHead {
    const bytes = this.#buffer.subarray(0, this.#end);
    for (;;) {
      const lf = bytes.indexOf(LF, this.#searched);
      if (lf < 0) {
        this.#searched = this.#end;
        return this.size > max ? { error: "too large" } : undefined;
      }
      if (lf === this.#start || bytes[lf - 1] !== CR) return { error: "bare LF" };
      this.#searched = lf + 1;
      // An empty line after at least one CRLF: `#line - 2` is where the CRLF CRLF starts.
      if (lf - 1 === this.#line && this.#line - this.#start >= 2) {
        const end = this.#line - 2;
        if (end - this.#start > max) return { error: "too large" };
        const head = bytes.toString("latin1", this.#start, end);
        if (lf + 1 === this.#end) this.clear();
        else this.#start = this.#line = lf + 1;
        return { head };
      }
      this.#line = lf + 1;
    }
  }

  /** Moves the unread bytes to the front of a buffer with room for `more` and at least as much again. */
  #makeRoom(more: number): void {
    const held = this.size;
    const wanted = Math.max(held + more, 2 * held);
    const target = wanted <= this.#buffer.length ? this.#buffer : Buffer.allocUnsafe(wanted);
    if (target === this.#buffer) target.copyWithin(0, this.#start, this.#end);
    else this.#buffer.copy(target, 0, this.#start, this.#end);
    this.#buffer = target;
    this.#line -= this.#start;
    this.#searched -= this.#start;
    this.#start = 0;
    this.#end = held;
  }
}
