/**
 * Test support: a tiny STS on 127.0.0.1 (port 0) that records every request and answers
 * AssumeRole with success, an AWS error, a non-STS page, or not at all. Not used at run time.
 */

export interface FakeStsRequest {
  readonly params: URLSearchParams;
  readonly headers: Headers;
}

export type FakeStsReply =
  | { kind: "ok"; arn?: string; lifetimeSeconds?: number }
  | { kind: "error"; status: number; code: string; message: string }
  | { kind: "html"; status: number }
  | { kind: "hang" };

export interface FakeStsServer {
  readonly url: string;
  readonly requests: FakeStsRequest[];
  reply: FakeStsReply;
  stop(): void;
}

export function startFakeSts(): FakeStsServer {
  const requests: FakeStsRequest[] = [];
  const state: { reply: FakeStsReply } = { reply: { kind: "ok" } };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      requests.push({ params: new URLSearchParams(await req.text()), headers: req.headers });
      const reply = state.reply;
      const xml = (status: number, body: string): Response =>
        new Response(body, { status, headers: { "content-type": "text/xml" } });
      switch (reply.kind) {
        case "hang":
          return new Promise<Response>(() => {});
        case "html":
          return new Response("<html>bad gateway</html>", { status: reply.status, headers: { "content-type": "text/html" } });
        case "error":
          return xml(
            reply.status,
            `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>` +
              `<Code>${reply.code}</Code><Message>${reply.message}</Message></Error><RequestId>r1</RequestId></ErrorResponse>`,
          );
        case "ok": {
          const expiration = new Date(Date.now() + (reply.lifetimeSeconds ?? 3600) * 1000).toISOString();
          const arn = reply.arn ?? "arn:aws:sts::123456789012:assumed-role/dev/credproxy";
          return xml(
            200,
            `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
              `<Credentials><AccessKeyId>ASIAFAKESTSEXAMPLE01</AccessKeyId><SecretAccessKey>fake-secret</SecretAccessKey>` +
              `<SessionToken>fake-token</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
              `<AssumedRoleUser><AssumedRoleId>AROAFAKE:credproxy</AssumedRoleId><Arn>${arn}</Arn></AssumedRoleUser>` +
              `</AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
          );
        }
      }
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    get reply() {
      return state.reply;
    },
    set reply(value) {
      state.reply = value;
    },
    stop: () => void server.stop(true),
  };
}
