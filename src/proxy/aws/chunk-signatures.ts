/**
 * Chunk-signed uploads (x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD): the body is
 * aws-chunked, `<hex size>;chunk-signature=<sig>\r\n<data>\r\n` … `0;chunk-signature=<sig>\r\n\r\n`,
 * and each chunk's signature chains from the one before it, the first from the header
 * signature. Once the header is signed again with the role's credentials, every chunk must be
 * signed again too, in order, as the body streams: this transform does that with the SDK
 * signer's own chunk signing (signEvent with empty headers is exactly the chunk's string to
 * sign). Sizes and signature lengths are kept, so Content-Length stays true. One chunk is held
 * at a time (clients send 8–64 KiB; at most MAX_CHUNK); a body that is not aws-chunked fails
 * the stream, which aborts the upstream request.
 */
import { Transform, type TransformCallback } from "node:stream";

/** A chunk's signature from the previous one and its data. */
export type ChunkSigner = (previous: string, data: Buffer) => Promise<string>;

export const MAX_CHUNK = 16 * 1024 * 1024;
const MAX_LINE = 256;
const CHUNK_LINE = /^([0-9a-fA-F]{1,8});chunk-signature=[0-9a-f]{64}$/;

export function chunkResigner(seed: string, sign: ChunkSigner): Transform {
  let buffered: Buffer = Buffer.alloc(0);
  let previous = seed;
  let state: { kind: "line" } | { kind: "data"; sizeText: string; size: number } | { kind: "done" } = { kind: "line" };

  async function drain(push: (b: Buffer) => void): Promise<void> {
    for (;;) {
      if (state.kind === "done") {
        if (buffered.length > 0) push(buffered); // the final CRLF
        buffered = Buffer.alloc(0);
        return;
      }
      if (state.kind === "line") {
        const end = buffered.indexOf("\r\n");
        if (end < 0) {
          if (buffered.length > MAX_LINE) throw new Error("aws-chunked: a chunk header line is too long");
          return;
        }
        const m = CHUNK_LINE.exec(buffered.subarray(0, end).toString("latin1"));
        if (!m) throw new Error("aws-chunked: not a chunk header line");
        const size = parseInt(m[1]!, 16);
        if (size > MAX_CHUNK) throw new Error("aws-chunked: a chunk is larger than credproxy holds");
        state = { kind: "data", sizeText: m[1]!, size };
        buffered = buffered.subarray(end + 2);
        continue;
      }
      // a zero-size chunk has no data and no CRLF of its own: the body's final CRLF follows
      const need = state.size === 0 ? 0 : state.size + 2;
      if (buffered.length < need) return;
      const data = buffered.subarray(0, state.size);
      if (state.size > 0 && buffered.subarray(state.size, need).toString("latin1") !== "\r\n") throw new Error("aws-chunked: chunk data is not followed by CRLF");
      previous = await sign(previous, Buffer.from(data));
      push(Buffer.from(`${state.sizeText};chunk-signature=${previous}\r\n`, "latin1"));
      if (state.size > 0) push(Buffer.concat([data, Buffer.from("\r\n")]));
      buffered = buffered.subarray(need);
      state = state.size === 0 ? { kind: "done" } : { kind: "line" };
    }
  }

  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      drain((b) => this.push(b)).then(() => done(), done);
    },
    flush(done: TransformCallback) {
      done(state.kind === "done" ? null : new Error("aws-chunked: the body ended inside a chunk"));
    },
  });
}
