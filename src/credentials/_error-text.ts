/**
 * Helpers that turn an arbitrary thrown value (SDK error, Node system error, string) into
 * text that is safe to put in a CredproxyError message. Internal to src/credentials.
 */

const MAX_LENGTH = 400;
/** Secret access keys are 40 base64-ish characters; session tokens are much longer. */
const SECRET_SHAPED = /[A-Za-z0-9+/=]{40,}/g;

/** The AWS error code of an SDK service exception (`AccessDenied`), or a Node `code` (`ECONNREFUSED`). */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as { name?: unknown; code?: unknown; Code?: unknown; $fault?: unknown; $metadata?: unknown };
  if (typeof e.Code === "string") return e.Code;
  // SDK service exceptions carry the AWS code as `name` and have `$fault`.
  if (e.$fault !== undefined && typeof e.name === "string") return e.name;
  if (typeof e.code === "string") return e.code;
  return undefined;
}

/**
 * The error's message, one line, with anything shaped like a secret key or token blanked and the
 * length bounded. SDK messages do not normally carry secrets; this is a second line of defence
 * (a credential_process error can echo its own output).
 */
export function errorText(error: unknown): string {
  const raw =
    error instanceof Error ? error.message : typeof error === "string" ? error : safeString(error);
  const oneLine = raw.replace(/\s+/g, " ").trim().replace(SECRET_SHAPED, "…").replace(/\.$/, "");
  const text = oneLine.length > MAX_LENGTH ? oneLine.slice(0, MAX_LENGTH) + "…" : oneLine;
  return text === "" ? "unknown error" : text;
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return "unprintable error";
  }
}
