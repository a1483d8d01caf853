/**
 * Runs loadServicesFile in a Worker: the serving thread only posts the text and awaits the
 * services, so even the largest file the caps allow (~100 ms to parse cold) never delays a
 * credential request, and a parse that somehow runs away is cut off after PARSE_TIMEOUT_MS by
 * terminating the worker. If no worker can be started, files are parsed in-thread.
 */
import { loadServicesFile } from "../config/load-services-file.ts";
import type { ServiceSpec } from "../config/types.ts";
import { pathFingerprint } from "./path-fingerprint.ts";

export interface ParseRequest {
  readonly id: number;
  readonly file: string;
  readonly text: string;
  readonly awsDefaults: Readonly<Record<string, unknown>>;
  readonly secretsDirectory: string | undefined;
  readonly refreshBufferSeconds: number;
}

export interface ParseReply {
  readonly id: number;
  readonly specs?: ServiceSpec[];
  /** The error message when the file was rejected. */
  readonly error?: string;
  /** ${fromFile:} paths read, with their fingerprints just before the read. */
  readonly refs: [string, string][];
  readonly warnings: string[];
}

export type ParseJob = Omit<ParseRequest, "id">;

export const PARSE_TIMEOUT_MS = 10_000;

export class ServicesFileWorker {
  readonly #onUnavailable: ((error: unknown) => void) | undefined;
  readonly #url: string;
  #worker: Worker | undefined;
  #unavailable = false;
  #next = 0;
  /** Whether the current worker has answered at all: one that fails before that never started. */
  #answered = false;
  readonly #pending = new Map<number, { request: ParseRequest; resolve: (reply: ParseReply) => void; timer: Timer }>();

  /** `onUnavailable` hears once that no worker could be started (files are then parsed in-thread). */
  constructor(options: { onUnavailable?: (error: unknown) => void; workerUrl?: string } = {}) {
    this.#onUnavailable = options.onUnavailable;
    // Compiled, the worker is a second entry point of the bundle, named from src/ (build.ts).
    this.#url = options.workerUrl ?? (import.meta.url.includes("/$bunfs/") ? "./serve/parse-worker.ts" : new URL("./parse-worker.ts", import.meta.url).href);
  }

  parse(job: ParseJob): Promise<ParseReply> {
    const worker = this.#start();
    const id = ++this.#next;
    if (worker === undefined) return Promise.resolve(parseServicesFile({ ...job, id }));
    const request: ParseRequest = { ...job, id };
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#fail(`parsing took longer than ${PARSE_TIMEOUT_MS / 1000} s and was stopped`), PARSE_TIMEOUT_MS);
      this.#pending.set(id, { request, resolve, timer });
      worker.postMessage(request);
    });
  }

  stop(): void {
    this.#fail("credproxy is stopping");
  }

  #start(): Worker | undefined {
    if (this.#worker !== undefined || this.#unavailable) return this.#worker;
    try {
      const worker = new Worker(this.#url);
      worker.onmessage = (event: MessageEvent<ParseReply>) => this.#settle(event.data);
      worker.onerror = (event) => (this.#answered ? this.#fail(`the parser worker failed (${event.message})`) : this.#fallBack(event.message));
      worker.unref();
      this.#worker = worker;
      this.#answered = false;
    } catch (error) {
      this.#unavailable = true;
      this.#onUnavailable?.(error);
    }
    return this.#worker;
  }

  #settle(reply: ParseReply): void {
    this.#answered = true;
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.#pending.delete(reply.id);
    pending.resolve(reply);
  }

  /** The worker could not start (e.g. its module is missing): parse here from now on, waiting files too. */
  #fallBack(why: string): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#unavailable = true;
    this.#onUnavailable?.(new Error(why));
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.resolve(parseServicesFile(pending.request));
    }
    this.#pending.clear();
  }

  /** Ends the worker and rejects every waiting file with `why`; the next parse starts a new worker. */
  #fail(why: string): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.resolve({ id, error: why, refs: [], warnings: [] });
    }
    this.#pending.clear();
  }
}

/** The parse itself, in the worker (or here when there is none). */
export function parseServicesFile(request: ParseRequest): ParseReply {
  const refs: [string, string][] = [];
  const warnings: string[] = [];
  try {
    const specs = loadServicesFile(request.file, request.text, request.awsDefaults, {
      secretsDirectory: request.secretsDirectory,
      refreshBufferSeconds: request.refreshBufferSeconds,
      onRead: (path) => refs.push([path, pathFingerprint(path)]),
      onWarning: (warning) => warnings.push(warning),
    });
    return { id: request.id, specs, refs, warnings };
  } catch (error) {
    return { id: request.id, error: error instanceof Error ? error.message : String(error), refs, warnings };
  }
}
