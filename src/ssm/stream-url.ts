/**
 * Which StreamUrls the client will dial (ssm-tunnel-2.md §1.5, as plugin 1.2.889.0 checks):
 * `wss://` on an ssmmessages host only — `ssmmessages[-fips].<region>.amazonaws.com[.cn]` or an
 * interface VPC endpoint `vpce-….ssmmessages.<region>.vpce.amazonaws.com[.cn]`. The URL comes
 * from an API answer; refusing anything else keeps a forged or misrouted answer from sending
 * signed upgrades and session bytes elsewhere. One more host may be named (`--stream-endpoint`,
 * for a private DNS name or a relay in front of ssmmessages), still `wss://` only. `ws://` and
 * other hosts only behind the test switch (option or CREDPROXY_INSECURE_STREAM_URL=1).
 */
import { SsmErrorCode, ssmError } from "./ssm-error.ts";

const REGION = "[a-z]{2}(?:-[a-z]+)+-\\d+";
const SUFFIX = "amazonaws\\.com(?:\\.cn)?";
const PUBLIC_HOST = new RegExp(`^ssmmessages(?:-fips)?\\.${REGION}\\.${SUFFIX}$`);
const VPCE_HOST = new RegExp(`^vpce-[0-9a-z-]+\\.ssmmessages(?:-fips)?\\.${REGION}\\.vpce\\.${SUFFIX}$`);

/** True when the environment turns the stream URL check off (tests against a local fake). */
export function insecureStreamUrlFromEnv(env: Record<string, string | undefined> = process.env): boolean {
  return env["CREDPROXY_INSECURE_STREAM_URL"] === "1";
}

/** True for an ssmmessages host name (public, FIPS or VPC endpoint). */
export function isStreamHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return PUBLIC_HOST.test(host) || VPCE_HOST.test(host);
}

/** A host[:port] for --stream-endpoint: a DNS name or IPv4 address, lower-cased for comparing. */
export const STREAM_ENDPOINT_PATTERN = "^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::\\d{1,5})?$";

/**
 * Returns the parsed URL if it may be dialled; otherwise an E_SSM_SETTING error naming the host.
 * `extraHost` (host or host:port, as in the URL) is accepted besides the ssmmessages hosts.
 */
export function checkStreamUrl(url: string, allowInsecure: boolean, extraHost?: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw ssmError(SsmErrorCode.Setting, "the session's StreamUrl is not a URL");
  }
  if (allowInsecure && (parsed.protocol === "ws:" || parsed.protocol === "wss:")) return parsed;
  const named = extraHost !== undefined && parsed.host.toLowerCase() === extraHost.toLowerCase();
  if (parsed.protocol !== "wss:" || !(isStreamHost(parsed.hostname) || named)) {
    const accepted = extraHost === undefined ? "an ssmmessages host" : `an ssmmessages host or ${extraHost} (--stream-endpoint)`;
    throw ssmError(SsmErrorCode.Setting, `refusing the stream URL ${parsed.protocol}//${parsed.host}: only wss:// on ${accepted} is accepted`, {
      hint: "The StreamUrl comes from StartSession/ResumeSession; check the SSM endpoint setting (AWS_ENDPOINT_URL_SSM), or name the stream host with --stream-endpoint HOST if it is yours. CREDPROXY_INSECURE_STREAM_URL=1 is for local test fakes only.",
      details: { protocol: parsed.protocol, host: parsed.host },
    });
  }
  return parsed;
}
