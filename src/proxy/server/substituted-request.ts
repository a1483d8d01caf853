/**
 * A request's path and headers after its placeholder step: as sent, with the credentials'
 * values in place of their placeholders, or the refusal to answer instead (the step's own, or
 * a 502 when a value cannot be had).
 */
import type { PlaceholderStep } from "../placeholders/placeholder-step.ts";
import type { Refusal } from "../refusal.ts";
import { credentialValues } from "./credential-injections.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";

export type Substituted =
  | { readonly path: string; readonly rawHeaders: readonly string[]; readonly credentials: readonly string[] }
  | { readonly refusal: Refusal; readonly credentials: readonly string[] };

export async function substitutedRequest(runtime: ProxyRuntime, step: Exclude<PlaceholderStep, { kind: "none" }>, request: { path: string; rawHeaders: readonly string[] }): Promise<Substituted> {
  if (step.kind === "refused") return { refusal: step.refusal, credentials: [step.credential] };
  const names = step.credentials.map((c) => c.name);
  const values = await credentialValues(runtime, step.credentials);
  if ("refusal" in values) return { refusal: values.refusal, credentials: names };
  return { ...step.apply(values.map((v) => v.value)), credentials: names };
}
