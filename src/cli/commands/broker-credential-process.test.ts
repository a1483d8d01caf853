import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDirSync } from "../../../test/helpers/cleanup.ts";
import { startUnixServer, type UnixServer } from "../../broker/socket/unix-server.ts";
import { CredproxyError } from "../../errors.ts";
import { silentLogger } from "../../log.ts";
import { brokerCredentialProcessCommand, fetchCredentials } from "./broker-credential-process.ts";

const ECS_BODY = {
  AccessKeyId: "ASIAEXAMPLEEXAMPLE01",
  SecretAccessKey: "secret-secret-secret",
  Token: "session-token",
  Expiration: "2030-01-02T03:04:05Z",
  RoleArn: "arn:aws:iam::123456789012:role/a",
  AccountId: "123456789012",
};

const paths: string[] = [];
let answer: (path: string) => Response = () => Response.json(ECS_BODY);
let server: UnixServer;
const ready = startUnixServer({
  path: join(tempDirSync("credproxy-cp-"), "broker.sock"),
  authorize: () => ({ allowed: true }),
  handle: (path) => {
    paths.push(path);
    return answer(path);
  },
  logger: silentLogger,
}).then((s) => (server = s));
afterAll(() => server?.stop());

async function failure(promise: Promise<unknown>): Promise<CredproxyError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(CredproxyError);
  return error as CredproxyError;
}

describe("fetchCredentials", () => {
  test("turns the broker's ECS body into credential_process Version 1, fields in order", async () => {
    await ready;
    answer = () => Response.json(ECS_BODY);
    const out = await fetchCredentials(server.path);
    expect(JSON.stringify(out)).toBe(
      JSON.stringify({ Version: 1, AccessKeyId: ECS_BODY.AccessKeyId, SecretAccessKey: ECS_BODY.SecretAccessKey, SessionToken: "session-token", Expiration: ECS_BODY.Expiration }),
    );
    expect(paths.at(-1)).toBe("/");
  });

  test("--role-arn asks for /role-arn/<ARN>, percent-encoded", async () => {
    await ready;
    await fetchCredentials(server.path, "arn:aws:iam::123456789012:role/path/b");
    expect(paths.at(-1)).toBe("/role-arn/arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpath%2Fb");
  });

  test("a broker error names the status, code, message and hint", async () => {
    await ready;
    answer = () => Response.json({ Code: "AccessDenied", Message: "role x is not in the broker's allow-list", Hint: "start the broker with --allow-role" }, { status: 403 });
    const error = await failure(fetchCredentials(server.path));
    expect(error.message).toContain("answered 403: AccessDenied: role x is not in the broker's allow-list");
    expect(error.hint).toBe("start the broker with --allow-role");
  });

  test("a body that is not JSON, or lacks a field, is an error", async () => {
    await ready;
    answer = () => new Response("<html>", { status: 200 });
    expect((await failure(fetchCredentials(server.path))).message).toContain("not JSON");
    answer = () => Response.json({ ...ECS_BODY, Token: undefined });
    expect((await failure(fetchCredentials(server.path))).message).toContain("lacks Token");
  });

  test("a broker that does not answer in time is an error, not a hang", async () => {
    await ready;
    answer = () => new Promise<Response>(() => {}) as unknown as Response;
    expect((await failure(fetchCredentials(server.path, undefined, 200))).message).toContain("no answer within 0.2 s");
  });

  test("no socket at the path says so before trying to connect", async () => {
    const error = await failure(fetchCredentials(join(tempDirSync("credproxy-cp-"), "missing.sock")));
    expect(error.message).toContain("as nothing is there");
  });
});

describe("broker credential-process flags", () => {
  test("an empty --socket, --config or --role-arn is a usage error, not a silent fallback", async () => {
    for (const flag of ["--socket", "--config", "--role-arn"]) {
      const run = brokerCredentialProcessCommand.run([flag, ""]);
      await expect(run).rejects.toThrow(`broker credential-process: ${flag} is empty`);
    }
  });
});
