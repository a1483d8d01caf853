/** JSON responses with the headers every credproxy endpoint uses. */
/** Every JSON answer credproxy gives: credentials must never be cached by anything in between. */
export const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" } as const;

export function json(body: unknown, status = 200, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: headers ? { ...JSON_HEADERS, ...headers } : JSON_HEADERS });
}

export function notFound(path: string): Response {
  return json({ error: `Not found: ${path}` }, 404);
}

export function methodNotAllowed(method: string, allow: readonly string[]): Response {
  return json({ error: `Method ${method} not allowed` }, 405, { allow: allow.join(", ") });
}
