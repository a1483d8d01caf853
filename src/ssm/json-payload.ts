/**
 * JSON payloads of control messages. Parsing never lets a SyntaxError or a wrong shape escape
 * as an untyped error: the data comes from the network.
 */
import { protocolError } from "./ssm-error.ts";

/** Parses a UTF-8 JSON object, or throws E_SSM_PROTOCOL naming `what`. */
export function parseJsonObject(what: string, payload: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    throw protocolError("json", `${what} payload is not JSON`);
  }
  if (!isObject(value)) throw protocolError("json", `${what} payload is not a JSON object`);
  return value;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** UTF-8 bytes of compact JSON. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** An optional string field: undefined when absent or null, an error when of another type. */
export function optionalString(what: string, object: Record<string, unknown>, field: string): string | undefined {
  const value = object[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw protocolError("json-field", `${what} field ${field} is not a string`);
  return value;
}
