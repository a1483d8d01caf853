/**
 * The current values of the credentials a request needs, as the header injections (or
 * placeholder replacements) they become, or the 502 to answer when one cannot be had: the
 * reason goes to the proxy's log, never to the client.
 */
import type { CredentialSpec } from "../config/proxy-config.ts";
import type { Injection } from "../forward-headers.ts";
import type { Refusal } from "../refusal.ts";
import type { ProxyRuntime } from "./proxy-runtime.ts";

export async function credentialValues(runtime: ProxyRuntime, credentials: readonly CredentialSpec[]): Promise<Injection[] | { refusal: Refusal }> {
  try {
    return await Promise.all(credentials.map(async (c) => ({ header: c.header, value: await runtime.values.value(c) })));
  } catch (error) {
    runtime.logger.error("credential unavailable", { error });
    return { refusal: { status: 502, code: "credential-unavailable", message: "credproxy could not get the credential for this host; its log says why." } };
  }
}

