/**
 * Which `aws:` credential a header-signed request is for: the one whose placeholder key id it
 * was signed with. A key id that is no placeholder of this run is refused, and a real key (the
 * role's current one, or a static source key) is told apart, since it means real keys are in
 * the sandbox: credproxy never forwards such a request, so nothing is signed by the sandbox
 * with keys the proxy is meant to keep. Messages show at most the key's last four characters.
 */
import type { Refusal } from "../refusal.ts";

export interface AwsKeyCandidate<C> {
  readonly credential: C;
  readonly name: string;
  readonly placeholderKeyId: string;
  /** Key ids of real credentials behind it that are known now. */
  readonly realKeyIds: readonly string[];
}

export function pickAwsCredential<C>(keyId: string, candidates: readonly AwsKeyCandidate<C>[]): { credential: C; name: string } | { refusal: Refusal } {
  const own = candidates.find((c) => c.placeholderKeyId === keyId);
  if (own) return { credential: own.credential, name: own.name };
  const tail = keyId.slice(-4);
  const real = candidates.find((c) => c.realKeyIds.includes(keyId));
  if (real) {
    return {
      refusal: {
        status: 403,
        code: "aws-real-key",
        message: `credproxy refused the request: it is signed with a real AWS access key (…${tail}) of credential "${real.name}". A sandbox must hold only the placeholder keys \`credproxy proxy env --aws\` prints; remove the real keys from it.`,
      },
    };
  }
  return {
    refusal: {
      status: 403,
      code: "aws-unknown-key",
      message: `credproxy refused the request: it is signed with access key …${tail}, which is not a placeholder key of this run. Set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from \`credproxy proxy env --aws\` (and unset AWS_PROFILE).`,
    },
  };
}
