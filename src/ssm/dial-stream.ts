/**
 * Opens the data channel WebSocket with Bun's own client: the upgrade signed with SigV4 for
 * `ssmmessages` (sign-upgrade.ts), no permessage-deflate (the Go plugin does not offer it), and —
 * as the plugin allows — one unsigned retry when the signed upgrade is answered 401 or 403
 * (ssm-tunnel-2.md §1.2). A signing failure is logged and the dial goes ahead unsigned.
 */
import type { AwsCredentials } from "../credentials/types.ts";
import type { Logger } from "../log.ts";
import { signStreamUpgrade, type UpgradeHeaders } from "./sign-upgrade.ts";

export interface DialStreamInput {
  readonly url: string;
  readonly credentials: Pick<AwsCredentials, "accessKeyId" | "secretAccessKey" | "sessionToken">;
  readonly region?: string | undefined;
  readonly logger: Logger;
}

/** A failed upgrade; `status` is the HTTP answer when the server gave one. */
export class DialError extends Error {
  override readonly name = "DialError";
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

/** Resolves with the open socket (binaryType arraybuffer), or rejects with a DialError. */
export async function dialStream(input: DialStreamInput): Promise<WebSocket> {
  const headers = await signedHeaders(input);
  try {
    return await openSocket(input.url, headers);
  } catch (err) {
    const status = err instanceof DialError ? err.status : undefined;
    if (Object.keys(headers).length === 0 || (status !== 401 && status !== 403)) throw err;
    input.logger.warn("signed data channel upgrade refused; retrying once unsigned", { status, host: new URL(input.url).host });
    return openSocket(input.url, {});
  }
}

async function signedHeaders(input: DialStreamInput): Promise<UpgradeHeaders> {
  try {
    return await signStreamUpgrade({ url: input.url, credentials: input.credentials, ...(input.region === undefined ? {} : { region: input.region }) });
  } catch (err) {
    input.logger.warn("could not sign the data channel upgrade; dialling unsigned", { error: err instanceof Error ? err.message : String(err) });
    return {};
  }
}

/** One WebSocket attempt; settles at `open` or at the first error/close before it. */
function openSocket(url: string, headers: UpgradeHeaders): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.binaryType = "arraybuffer";
    let failure = "the connection closed before the upgrade completed";
    ws.onopen = () => {
      ws.onerror = null;
      ws.onclose = null;
      resolve(ws);
    };
    ws.onerror = (event) => {
      failure = event instanceof ErrorEvent && event.message !== "" ? event.message : failure;
    };
    ws.onclose = (event) => reject(new DialError(`${failure} (close ${event.code})`, statusFrom(failure)));
  });
}

/** Bun reports a refused upgrade as "… Expected 101 status code: 403". */
function statusFrom(message: string): number | undefined {
  const match = /status code:?\s*(\d{3})/i.exec(message);
  return match === null ? undefined : Number(match[1]);
}
