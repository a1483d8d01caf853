import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createLogger } from "../../log.ts";
import { startEcsServer, TOKEN_BYTES, type EcsServer } from "./ecs-server.ts";

const logLines: string[] = [];
const logger = createLogger({ level: "debug", write: (line) => logLines.push(line) });
const routed: string[] = [];
let server: EcsServer;

beforeAll(() => {
  server = startEcsServer({
    logger,
    routes: (path) => {
      routed.push(path);
      return Response.json({ path });
    },
  });
});
afterAll(() => server.stop());

const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
  fetch(new URL(path.replace(/^\//, ""), server.url), { method, headers });
const withToken = (extra: Record<string, string> = {}) => ({ authorization: server.token, ...extra });

describe("startEcsServer", () => {
  test("listens on 127.0.0.1 on an ephemeral port and says so in its URL", () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.port).toBeGreaterThan(0);
  });

  test("the token is 32 random bytes (256 bits) in base64url, fresh for every server", async () => {
    expect(server.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(server.token, "base64url").length).toBe(TOKEN_BYTES);
    expect(TOKEN_BYTES * 8).toBeGreaterThanOrEqual(256);
    const other = startEcsServer({ logger, routes: () => new Response("x") });
    expect(other.token).not.toBe(server.token);
    expect(other.port).not.toBe(server.port);
    await other.stop();
  });

  test("an authorised GET reaches the routes with its path, role ARNs included", async () => {
    const res = await get("/role-arn/arn:aws:iam::123456789012:role/dev-a", withToken());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ path: "/role-arn/arn:aws:iam::123456789012:role/dev-a" });
    expect((await get("/", withToken())).status).toBe(200);
  });

  for (const path of ["/", "/role-arn/arn:aws:iam::123456789012:role/dev-a", "/no/such/path"]) {
    test(`every path needs the token: ${path} without one, or with a wrong one, is 403 {Code, Message}`, async () => {
      const before = routed.length;
      for (const headers of [{}, { authorization: "wrong" }, { authorization: `Bearer ${server.token}` }, { authorization: server.token.slice(0, -1) }]) {
        const res = await get(path, headers);
        expect(res.status).toBe(403);
        expect(res.headers.get("content-type")).toBe("application/json");
        expect(await res.json()).toEqual({ Code: "AccessDenied", Message: "invalid Authorization token" });
      }
      expect(routed.length).toBe(before);
    });
  }

  test("a Host other than 127.0.0.1:<port> or localhost:<port> is refused, even with the token (DNS rebinding)", async () => {
    for (const host of ["evil.example", `evil.example:${server.port}`, "127.0.0.1", `127.0.0.1:${server.port + 1}`, `169.254.170.2:${server.port}`]) {
      const res = await get("/", withToken({ host }));
      expect({ host, status: res.status }).toEqual({ host, status: 403 });
      expect(((await res.json()) as { Code: string }).Code).toBe("AccessDenied");
    }
    expect((await get("/", withToken({ host: `localhost:${server.port}` }))).status).toBe(200);
    expect((await get("/", withToken({ host: `LOCALHOST:${server.port}` }))).status).toBe(200);
  });

  test("only GET is allowed: other methods are 405 with Allow: GET", async () => {
    for (const method of ["POST", "PUT", "DELETE", "HEAD", "OPTIONS"]) {
      const res = await get("/", withToken(), method);
      expect({ method, status: res.status }).toEqual({ method, status: 405 });
      expect(res.headers.get("allow")).toBe("GET");
    }
  });

  test("without the token other methods are still 403: nothing is revealed before authentication", async () => {
    expect((await get("/", {}, "POST")).status).toBe(403);
  });

  test("the token never appears in a log line, even at debug level", async () => {
    await get("/", withToken());
    await get("/", { authorization: "some-wrong-token-value" });
    const logs = logLines.join("\n");
    expect(logLines.length).toBeGreaterThan(0);
    expect(logs).not.toContain(server.token);
    expect(logs).not.toContain("some-wrong-token-value");
  });

  test("stop() closes the port", async () => {
    const s = startEcsServer({ logger, routes: () => new Response("x") });
    await s.stop();
    await expect(fetch(s.url, { headers: { authorization: s.token } })).rejects.toThrow();
  });
});
