/**
 * Size, depth and node-count caps for every config document, checked on yaml's concrete syntax
 * tree (one linear pass) before anything walks the document. Without them a 15 KB file of
 * nested `{a: {a: …}}` took 8 s and 1.4 GB to parse, and 25,000 keys took 6 s (BENCHMARKS.md).
 */
import type { CST } from "yaml";

export interface ParseLimits {
  /** What the limits are called in messages, e.g. "config file" or "dynamic service file". */
  readonly what: string;
  readonly maxBytes: number;
  /** Collections nested inside each other (the top-level mapping is depth 1). */
  readonly maxDepth: number;
  /** Keys, values and list items counted together. */
  readonly maxNodes: number;
}

export const CONFIG_MAX_BYTES = 1024 * 1024;
/** yaml's parser needs ~0.6 µs a byte warm (~1.7 cold): 64 KiB is ~40 ms warm, ~110 ms cold (BENCHMARKS.md). */
export const DYNAMIC_FILE_MAX_BYTES = 64 * 1024;
/** A ${fromFile:…} secret: tokens and keys are short; a larger file is a mistake or an attack. */
export const FROM_FILE_MAX_BYTES = 64 * 1024;

/** The main config and the broker config. */
export const CONFIG_LIMITS: ParseLimits = { what: "config file", maxBytes: CONFIG_MAX_BYTES, maxDepth: 64, maxNodes: 20_000 };
/**
 * A dynamic service file: written by a less trusted party and parsed while serving (in a worker,
 * services-file-worker.ts, so the caps bound CPU and memory rather than request latency). A service
 * takes ~8 nodes and depth 5 (services.x.assumed_role.Tags[0]), so this is still ~600 services.
 */
export const DYNAMIC_FILE_LIMITS: ParseLimits = { what: "dynamic service file", maxBytes: DYNAMIC_FILE_MAX_BYTES, maxDepth: 32, maxNodes: 5_000 };

/** Which limit was passed, and where (a byte offset into the text). */
export interface LimitBreach {
  readonly limit: "maxDepth" | "maxNodes";
  readonly offset: number;
}

/** Walks the CST iteratively (no recursion: depth cannot overflow the stack) and stops at the first breach. */
export function findLimitBreach(tokens: readonly CST.Token[], limits: ParseLimits): LimitBreach | undefined {
  let nodes = 0;
  const stack: { token: CST.Token; depth: number }[] = tokens.map((token) => ({ token, depth: 0 }));
  while (stack.length > 0) {
    const { token, depth } = stack.pop()!;
    const children = childrenOf(token);
    if (children === undefined) continue;
    const inner = token.type === "document" ? depth : depth + 1;
    if (inner > limits.maxDepth) return { limit: "maxDepth", offset: token.offset };
    for (const child of children) {
      if (child === null || child === undefined) continue;
      nodes++;
      if (nodes > limits.maxNodes) return { limit: "maxNodes", offset: child.offset };
      stack.push({ token: child, depth: inner });
    }
  }
  return undefined;
}

function childrenOf(token: CST.Token): (CST.Token | null | undefined)[] | undefined {
  switch (token.type) {
    case "document":
      return [token.value];
    case "block-map":
    case "block-seq":
    case "flow-collection": {
      const out: (CST.Token | null | undefined)[] = [];
      for (const item of token.items) out.push(item.key, item.value);
      return out;
    }
    default:
      return undefined;
  }
}

/** The sentence an error gives for a breach: the limit by name and value. */
export function breachMessage(limits: ParseLimits, limit: LimitBreach["limit"] | "maxBytes", actual?: number): string {
  switch (limit) {
    case "maxBytes":
      return `is ${actual} bytes, over the ${limits.what} size limit of ${limits.maxBytes} bytes`;
    case "maxDepth":
      return `nests collections more than ${limits.maxDepth} levels deep (the ${limits.what} depth limit)`;
    case "maxNodes":
      return `holds more than ${limits.maxNodes} keys, values and list items (the ${limits.what} node limit)`;
  }
}
