import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServicesFileWorker } from "./services-file-worker.ts";

const ROLE = "arn:aws:iam::123456789012:role/r";
const workers: ServicesFileWorker[] = [];
afterEach(() => {
  for (const w of workers.splice(0)) w.stop();
});
function worker(): ServicesFileWorker {
  const w = new ServicesFileWorker({ onUnavailable: (error) => { throw error; } });
  workers.push(w);
  return w;
}
const job = (text: string, secretsDirectory?: string) => ({ file: "/d/x.yaml", text, awsDefaults: { region: "us-east-1" }, secretsDirectory, refreshBufferSeconds: 300 });

describe("parsing dynamic service files in a worker", () => {
  test("returns the services, and the ${fromFile:} files read with their fingerprints", async () => {
    const secrets = mkdtempSync(join(tmpdir(), "credproxy-worker-"));
    try {
      writeFileSync(join(secrets, "tok"), "tok-from-file-0123\n");
      const reply = await worker().parse(job(`services:\n  a: {auth_token: "\${fromFile:tok}", assumed_role: {RoleArn: "${ROLE}"}}\n`, secrets));
      expect(reply.error).toBeUndefined();
      expect(reply.specs?.map((s) => [s.name, s.authToken, s.assumeRole.RoleArn])).toEqual([["a", "tok-from-file-0123", ROLE]]);
      expect(reply.refs.map(([path]) => path)).toEqual([join(secrets, "tok")]);
      expect(reply.refs[0]?.[1]).not.toStartWith("missing");
    } finally {
      rmSync(secrets, { recursive: true, force: true });
    }
  });

  test("returns a rejected file's error message, and several files in turn get their own answers", async () => {
    const w = worker();
    const [bad, good] = await Promise.all([
      w.parse(job("services:\n  a: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: nope}}\n")),
      w.parse(job(`services:\n  b: {auth_token: t2-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE}"}}\n`)),
    ]);
    expect(bad.error).toContain("services.a.assumed_role.RoleArn");
    expect(good.specs?.map((s) => s.name)).toEqual(["b"]);
  });

  test("answers every waiting file once stopped, and starts afresh on the next", async () => {
    const w = worker();
    const waiting = w.parse(job(`services:\n  a: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE}"}}\n`));
    w.stop();
    expect((await waiting).error).toBe("credproxy is stopping");
    expect((await w.parse(job(`services:\n  c: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE}"}}\n`))).specs?.map((s) => s.name)).toEqual(["c"]);
  });

  test("parses in-thread when the worker cannot start, and says so once", async () => {
    const problems: unknown[] = [];
    const w = new ServicesFileWorker({ workerUrl: new URL("./no-such-worker.ts", import.meta.url).href, onUnavailable: (e) => problems.push(e) });
    workers.push(w);
    const first = await w.parse(job(`services:\n  a: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE}"}}\n`));
    const second = await w.parse(job(`services:\n  b: {auth_token: t-9Qm4Xr7Lz2Wk8Vn5B, assumed_role: {RoleArn: "${ROLE}"}}\n`));
    expect([first.specs?.[0]?.name, second.specs?.[0]?.name]).toEqual(["a", "b"]);
    expect(problems).toHaveLength(1);
  });
});
