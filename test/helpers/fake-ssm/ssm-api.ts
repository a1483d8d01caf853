/**
 * The SSM control-plane operations the tunnel calls, over AWS JSON 1.1 (ssm-tunnel.md §2.1):
 * `POST /`, `Content-Type: application/x-amz-json-1.1`, `X-Amz-Target: AmazonSSM.<Op>`, a SigV4
 * Authorization header for service `ssm` (shape checked, signature not). Errors are JSON 1.1
 * error bodies, `{"__type": …, "message": …}`, with status 400.
 */
import { sigV4ShapeProblem } from "./sigv4-shape.ts";

export const SSM_JSON_CONTENT_TYPE = "application/x-amz-json-1.1";

/** What the endpoint dispatches to; each returns the response body or throws an SsmApiError. */
export interface SsmApiBackend {
  startSession(body: Record<string, unknown>): Record<string, unknown>;
  resumeSession(body: Record<string, unknown>): Record<string, unknown>;
  terminateSession(body: Record<string, unknown>): Record<string, unknown>;
  describeInstanceInformation(body: Record<string, unknown>): Record<string, unknown>;
}

/** An AWS error answer: `__type` as the real service names it. */
export class SsmApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const OPERATIONS: Record<string, keyof SsmApiBackend> = {
  "AmazonSSM.StartSession": "startSession",
  "AmazonSSM.ResumeSession": "resumeSession",
  "AmazonSSM.TerminateSession": "terminateSession",
  "AmazonSSM.DescribeInstanceInformation": "describeInstanceInformation",
};

/** Answers one API request. */
export async function handleSsmApi(request: Request, backend: SsmApiBackend): Promise<Response> {
  try {
    const operation = checkRequest(request);
    const body = await readBody(request);
    return json(200, backend[operation](body));
  } catch (err) {
    if (err instanceof SsmApiError) return json(err.status, { __type: err.type, message: err.message });
    throw err;
  }
}

function checkRequest(request: Request): keyof SsmApiBackend {
  if (request.method !== "POST" || new URL(request.url).pathname !== "/") {
    throw new SsmApiError("UnknownOperationException", `${request.method} ${new URL(request.url).pathname} is not an SSM API call`, 404);
  }
  const authorization = request.headers.get("authorization");
  if (authorization === null) throw new SsmApiError("MissingAuthenticationTokenException", "Missing Authentication Token");
  const problem = sigV4ShapeProblem(authorization, request.headers.get("x-amz-date"), "ssm");
  if (problem !== undefined) throw new SsmApiError("IncompleteSignatureException", `request signature: ${problem}`);
  if (!(request.headers.get("content-type") ?? "").startsWith(SSM_JSON_CONTENT_TYPE)) {
    throw new SsmApiError("SerializationException", `Content-Type must be ${SSM_JSON_CONTENT_TYPE}`);
  }
  const operation = OPERATIONS[request.headers.get("x-amz-target") ?? ""];
  if (operation === undefined) throw new SsmApiError("UnknownOperationException", `unknown X-Amz-Target ${request.headers.get("x-amz-target")}`);
  return operation;
}

async function readBody(request: Request): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse((await request.text()) || "{}");
  } catch {
    throw new SsmApiError("SerializationException", "the request body is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SsmApiError("SerializationException", "the request body is not a JSON object");
  return value as Record<string, unknown>;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": SSM_JSON_CONTENT_TYPE } });
}

/** A required string field of a request body, or the ValidationException the service gives. */
export function requiredString(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== "string" || value === "") {
    throw new SsmApiError("ValidationException", `1 validation error detected: Value at '${field[0]!.toLowerCase()}${field.slice(1)}' failed to satisfy constraint: Member must not be null`);
  }
  return value;
}
