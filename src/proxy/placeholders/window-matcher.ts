/**
 * Finds byte patterns in a stream that arrives in chunks of any size, replacing each with its
 * replacement or, for a forbidden pattern, stopping the stream. A pattern split across chunks
 * (one byte per chunk, even) is found: the bytes at the end of what has arrived that could
 * still begin a pattern are held back, at most (longest pattern − 1) of them, and only while
 * they could; everything else leaves at once, so a stream of events is not delayed.
 *
 * Where patterns overlap, the one that starts first wins, and at the same start the longest;
 * the bytes a match replaced are not searched again (a replacement never forms a new match).
 */
import { Transform, type TransformCallback } from "node:stream";

export interface Pattern {
  readonly from: Buffer;
  /** The replacement; undefined for a pattern whose presence stops the stream. */
  readonly to: Buffer | undefined;
  /** Why a forbidden pattern is forbidden, for whoever reports it. */
  readonly reason?: string | undefined;
}

/** What one step gives: bytes that may leave, or the forbidden pattern that was found. */
export type Step = { readonly out: Buffer } | { readonly forbidden: Pattern };

const EMPTY = Buffer.alloc(0);

export class WindowMatcher {
  readonly #patterns: readonly Pattern[];
  #held: Buffer = EMPTY;
  #stopped = false;

  constructor(patterns: readonly Pattern[]) {
    this.#patterns = patterns.filter((p) => p.from.length > 0);
  }

  /** The longest a held-back tail can be. */
  get window(): number {
    return Math.max(0, ...this.#patterns.map((p) => p.from.length - 1));
  }

  push(chunk: Buffer): Step {
    return this.#step(this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]), false);
  }

  /** The end of the stream: a held tail that never became a pattern leaves as it is. */
  end(): Step {
    return this.#step(this.#held, true);
  }

  #step(data: Buffer, final: boolean): Step {
    if (this.#stopped) return { out: EMPTY };
    const out: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const match = this.#firstMatch(data, pos);
      const partial = final ? -1 : this.#firstPartial(data, pos, match?.at ?? data.length);
      if (partial >= 0) {
        out.push(data.subarray(pos, partial));
        this.#held = Buffer.from(data.subarray(partial)); // a copy: the caller may reuse its chunk
        break;
      }
      if (match === undefined) {
        out.push(data.subarray(pos));
        this.#held = EMPTY;
        break;
      }
      if (match.pattern.to === undefined) {
        this.#stopped = true;
        this.#held = EMPTY;
        return { forbidden: match.pattern };
      }
      out.push(data.subarray(pos, match.at), match.pattern.to);
      pos = match.at + match.pattern.from.length;
    }
    return { out: out.length === 1 ? out[0]! : Buffer.concat(out) };
  }

  /** The earliest whole pattern at or after `pos`; at the same start, the longest. */
  #firstMatch(data: Buffer, pos: number): { at: number; pattern: Pattern } | undefined {
    let best: { at: number; pattern: Pattern } | undefined;
    for (const pattern of this.#patterns) {
      const at = data.indexOf(pattern.from, pos);
      if (at < 0) continue;
      if (!best || at < best.at || (at === best.at && pattern.from.length > best.pattern.from.length)) best = { at, pattern };
    }
    return best;
  }

  /**
   * The earliest start at or after `pos`, and no later than `limit` (a whole match there wins
   * unless a longer pattern could still start at the same place), where the rest of the data
   * is a proper prefix of some pattern; -1 when there is none.
   */
  #firstPartial(data: Buffer, pos: number, limit: number): number {
    for (let at = Math.max(pos, data.length - this.window); at <= limit && at < data.length; at++) {
      const rest = data.length - at;
      for (const pattern of this.#patterns) {
        if (pattern.from.length > rest && data.compare(pattern.from, 0, rest, at, data.length) === 0) return at;
      }
    }
    return -1;
  }
}

/** A pattern found that stops the stream (the transform fails with this). */
export class ForbiddenPattern extends Error {
  constructor(readonly pattern: Pattern) {
    super("a forbidden pattern was found in the stream");
  }
}

/** WindowMatcher as a stream: fails with ForbiddenPattern, having passed on nothing of the chunk that held it. */
export function windowTransform(patterns: readonly Pattern[]): Transform {
  const matcher = new WindowMatcher(patterns);
  const emit = (stream: Transform, step: Step, done: TransformCallback) => {
    if ("forbidden" in step) return done(new ForbiddenPattern(step.forbidden));
    if (step.out.length > 0) stream.push(step.out);
    done();
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      emit(this, matcher.push(chunk), done);
    },
    flush(done) {
      emit(this, matcher.end(), done);
    },
  });
}

/** The patterns applied to one whole value (a header); undefined when a forbidden one is in it. */
export function replaceAll(value: Buffer, patterns: readonly Pattern[]): Buffer | undefined {
  const matcher = new WindowMatcher(patterns);
  const first = matcher.push(value);
  const last = matcher.end();
  if ("forbidden" in first || "forbidden" in last) return undefined;
  return last.out.length === 0 ? first.out : Buffer.concat([first.out, last.out]);
}
