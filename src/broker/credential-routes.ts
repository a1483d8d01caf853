import { toEcsResponse } from "../credentials/ecs-response.ts";
import type { RefreshingCredentials } from "../credentials/refreshing-credentials.ts";
import { CredproxyError } from "../errors.ts";
import { json } from "../http/json.ts";
import type { Logger } from "../log.ts";
import type { BrokerCredentials } from "./broker-credentials.ts";

const ROLE_ARN_PREFIX = "/role-arn/";

/**
 * The broker's credential routes, whatever the transport (loopback TCP with a token, a unix
 * socket with peer credentials): `GET /` is the broker's role, `GET /role-arn/<ARN>` assumes
 * an allow-listed role. Authorisation happens before this is called. Errors are JSON with
 * `Code` and `Message` (what the JS SDK and aws-vault clients read) and never carry secrets.
 */
export function credentialRoutes(credentials: BrokerCredentials, logger: Logger): (path: string) => Response | Promise<Response> {
  return (path) => {
    if (path === "/") return answer(credentials.base, logger);
    if (path.startsWith(ROLE_ARN_PREFIX)) {
      let arn: string;
      try {
        arn = decodeURIComponent(path.slice(ROLE_ARN_PREFIX.length));
      } catch {
        return json({ Code: "BadRequest", Message: "the role ARN in the path is not valid percent-encoding" }, 400);
      }
      const creds = credentials.forRoleArn(arn);
      if (creds instanceof CredproxyError) {
        logger.warn("role-arn request refused", { role_arn: arn, reason: creds.message });
        return errorResponse(403, "AccessDenied", creds);
      }
      return answer(creds, logger);
    }
    return json({ Code: "NotFound", Message: `no such path: ${path}` }, 404);
  };
}

function answer(creds: RefreshingCredentials, logger: Logger): Response | Promise<Response> {
  const cached = creds.peek();
  if (cached) return json(toEcsResponse(cached));
  return creds.get().then(
    (fresh) => json(toEcsResponse(fresh)),
    (error: unknown) => {
      const known = error instanceof CredproxyError ? error : undefined;
      logger.warn("no valid credentials to serve", { error: known?.message ?? String(error) });
      return errorResponse(503, "CredentialsUnavailable", known);
    },
  );
}

function errorResponse(status: number, code: string, error: CredproxyError | undefined): Response {
  const body = { Code: code, Message: error?.message ?? "internal error", ...(error?.hint ? { Hint: error.hint } : {}) };
  return json(body, status);
}
