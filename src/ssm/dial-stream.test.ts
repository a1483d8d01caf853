/** dialStream against a local Bun.serve on 127.0.0.1 that refuses signed or unsigned upgrades. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { createLogger } from "../log.ts";
import { DialError, dialStream } from "./dial-stream.ts";

const CREDENTIALS = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
const seen: { path: string; authorization: string | null }[] = [];
let server: Server<undefined>;

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request, srv) {
      const url = new URL(request.url);
      const authorization = request.headers.get("authorization");
      seen.push({ path: url.pathname, authorization });
      if (url.pathname === "/refuse-signed" && authorization !== null) return new Response("denied", { status: 403 });
      if (url.pathname === "/refuse-all") return new Response("denied", { status: 401 });
      if (url.pathname === "/missing") return new Response("no", { status: 404 });
      return srv.upgrade(request, { data: undefined }) ? undefined : new Response("upgrade expected", { status: 400 });
    },
    websocket: { message() {} },
  });
});

afterAll(() => server.stop(true));

function lines(): { logger: ReturnType<typeof createLogger>; out: string[] } {
  const out: string[] = [];
  return { logger: createLogger({ level: "debug", write: (line) => out.push(line) }), out };
}

const url = (path: string): string => `ws://127.0.0.1:${server.port}${path}?cell-number=a+b/c`;

test("the upgrade is signed for ssmmessages and opens without a retry", async () => {
  seen.length = 0;
  const { logger, out } = lines();
  const ws = await dialStream({ url: url("/ok"), credentials: CREDENTIALS, region: "us-east-1", logger });
  ws.close();
  expect(seen).toHaveLength(1);
  expect(seen[0]!.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/ssmmessages\/aws4_request/);
  expect(out).toEqual([]);
});

test("a 403 to the signed upgrade is retried once unsigned, and the retry is logged without the secret", async () => {
  seen.length = 0;
  const { logger, out } = lines();
  const ws = await dialStream({ url: url("/refuse-signed"), credentials: CREDENTIALS, region: "us-east-1", logger });
  ws.close();
  expect(seen.map((s) => s.authorization === null)).toEqual([false, true]);
  expect(out).toHaveLength(1);
  expect(out[0]).toContain("retrying once unsigned");
  expect(out[0]).toContain("403");
  expect(out.join("")).not.toContain(CREDENTIALS.secretAccessKey);
});

test("a 401 to both attempts rejects with a DialError carrying the status, after exactly two tries", async () => {
  seen.length = 0;
  const { logger } = lines();
  const error = await dialStream({ url: url("/refuse-all"), credentials: CREDENTIALS, region: "us-east-1", logger }).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(DialError);
  expect((error as DialError).status).toBe(401);
  expect(seen).toHaveLength(2);
});

test("a 404 is not retried unsigned", async () => {
  seen.length = 0;
  const { logger } = lines();
  const error = await dialStream({ url: url("/missing"), credentials: CREDENTIALS, region: "us-east-1", logger }).catch((err: unknown) => err);
  expect((error as DialError).status).toBe(404);
  expect(seen).toHaveLength(1);
});
