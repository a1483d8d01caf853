/**
 * `tunnel down --force` after a crash: the process that owned the session is gone, so nobody
 * sent TerminateSession and the session would linger until its idle timeout. This calls it
 * from the state record (region, profile and SSM endpoint recorded at `up`), best effort: the
 * answer is a sentence for the user, and a failure never stops the clean-up, which has run first.
 * Loaded lazily: it pulls in the AWS SDK.
 */
import { SSMClient, TerminateSessionCommand } from "@aws-sdk/client-ssm";
import { createSourceProvider } from "../credentials/source-provider.ts";
import type { TunnelRecord } from "./tunnel-state.ts";
import { sdkIdentity } from "./tunnel-clients.ts";
import { configuredEndpoint } from "./tunnel-clients-endpoint.ts";

export const TERMINATE_TIMEOUT_MS = 10_000;

export type TerminateOutcome = { readonly ok: true } | { readonly ok: false; readonly error: string };

export async function terminateRecordedSession(record: TunnelRecord, timeoutMs = TERMINATE_TIMEOUT_MS): Promise<TerminateOutcome> {
  if (record.sessionId === undefined) return { ok: false, error: "the record holds no session id" };
  let ssm: SSMClient | undefined;
  try {
    const source = createSourceProvider(record.profile === undefined ? { kind: "default-chain" } : { kind: "profile", profile: record.profile }, {
      region: record.region,
      context: "broker",
    });
    const endpoint = record.ssmEndpoint ?? (await configuredEndpoint("SSM", record.profile));
    ssm = new SSMClient({ region: record.region, maxAttempts: 2, credentials: async () => sdkIdentity(await source()), ...(endpoint ? { endpoint } : {}) });
    await ssm.send(new TerminateSessionCommand({ SessionId: record.sessionId }), { abortSignal: AbortSignal.timeout(timeoutMs) });
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error) };
  } finally {
    ssm?.destroy();
  }
}
