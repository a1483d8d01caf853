/**
 * One SSM JSON 1.1 call with plain fetch, signed with SigV4 (service `ssm`) by dummy keys: the
 * wire shape the AWS SDK sends, without the SDK (ssm-tunnel.md §2.1). Loopback only.
 */
import { Sha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";
import { assertLoopback } from "../loopback.ts";
import { SSM_JSON_CONTENT_TYPE } from "./ssm-api.ts";

export const DUMMY_CREDENTIALS = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
export const FAKE_REGION = "us-east-1";

export interface SsmApiAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface CallOptions {
  /** Send it without an Authorization header. */
  readonly unsigned?: boolean;
}

/** POSTs `AmazonSSM.<operation>` with `body` to `apiUrl` and returns the status and JSON body. */
export async function callSsmApi(apiUrl: string, operation: string, body: unknown, options: CallOptions = {}): Promise<SsmApiAnswer> {
  const url = assertLoopback(apiUrl);
  const text = JSON.stringify(body);
  const headers: Record<string, string> = { host: url.host, "content-type": SSM_JSON_CONTENT_TYPE, "x-amz-target": `AmazonSSM.${operation}` };
  const signed = options.unsigned ? headers : await sign(url, headers, text);
  const response = await fetch(url, { method: "POST", headers: signed, body: text });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function sign(url: URL, headers: Record<string, string>, body: string): Promise<Record<string, string>> {
  const signer = new SignatureV4({ service: "ssm", region: FAKE_REGION, sha256: Sha256, credentials: DUMMY_CREDENTIALS });
  const request = await signer.sign({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: "/",
    headers,
    body,
  });
  return request.headers;
}
