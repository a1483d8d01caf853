/**
 * The errors a refreshing cache hands out: each says what the credentials are for (`subject`:
 * "service 'app'", "role arn:…"). Errors it makes itself already carry the subject; errors from
 * the fetch (source credentials, STS) get it put in front, keeping their code, hint and details.
 */
import { CredproxyError, ErrorCode } from "../errors";
import { errorText } from "./_error-text";

export interface RefreshErrors {
  /** A failure the cache itself found: a timeout, expired credentials, a stop. */
  own(code: ErrorCode, message: string, hint?: string): CredproxyError;
  /** A failure of the fetch, as the cache's callers see it. */
  wrap(error: unknown): CredproxyError;
}

export function refreshErrors(subject: string): RefreshErrors {
  const mine = new WeakSet<CredproxyError>();
  return {
    own(code, message, hint) {
      const err = new CredproxyError(code, `Cannot get credentials for ${subject} as ${message}`, { hint });
      mine.add(err);
      return err;
    },
    wrap(error) {
      if (error instanceof CredproxyError && mine.has(error)) return error;
      if (error instanceof CredproxyError) {
        return new CredproxyError(error.code, `Cannot get credentials for ${subject}: ${error.message}`, { hint: error.hint, cause: error, details: error.details });
      }
      return new CredproxyError(ErrorCode.AssumeRole, `Cannot get credentials for ${subject}: ${errorText(error)}`, { cause: error });
    },
  };
}
