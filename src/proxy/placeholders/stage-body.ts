/**
 * A rewritten request body with a declared length, read ahead up to a bound before anything
 * goes upstream: a body that ends within it is sent whole with its exact new Content-Length,
 * and one holding another host's placeholder is refused before the upstream hears of the
 * request. One that grows past the bound while rewritten is sent as it streams: what was read
 * first, then the rest (see placeholder-bodies.ts for its framing).
 */
import type { Readable } from "node:stream";
import { ForbiddenPattern } from "./window-matcher.ts";

/** Bodies up to this (after rewriting) are read whole before they are sent. */
export const STAGED_BODY_MAX = 1024 * 1024;

export type StagedBody =
  | { readonly kind: "whole"; readonly body: Buffer }
  /** Longer than the bound: `head` has been read from `rest`, which is paused where it stopped (check `rest.errored`). */
  | { readonly kind: "stream"; readonly head: readonly Buffer[]; readonly rest: Readable }
  /** `reason`: the forbidden pattern's. */
  | { readonly kind: "forbidden"; readonly reason: string | undefined }
  | { readonly kind: "aborted" };

/** Reads the rewritten body (a windowTransform's output) until it ends, fails, or passes `max`. */
export function stageBody(body: Readable, max: number = STAGED_BODY_MAX): Promise<StagedBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (staged: StagedBody) => {
      body.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      resolve(staged);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= max) return;
      body.pause();
      // It may fail before its next reader listens: that must not go unheard (the reader checks `errored`).
      body.on("error", () => {});
      settle({ kind: "stream", head: chunks, rest: body });
    };
    const onEnd = () => settle({ kind: "whole", body: Buffer.concat(chunks) });
    const onError = (error: Error) => settle(error instanceof ForbiddenPattern ? { kind: "forbidden", reason: error.pattern.reason } : { kind: "aborted" });
    const onClose = () => settle({ kind: "aborted" });
    body.on("data", onData).once("end", onEnd).once("error", onError).once("close", onClose);
  });
}
