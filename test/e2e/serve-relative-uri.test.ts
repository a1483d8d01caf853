/** Services selected by a secret relative_uri (ECS AWS_CONTAINER_CREDENTIALS_RELATIVE_URI style). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCredproxy } from "../helpers/binary.ts";
import { startMoto, type PlainMoto } from "../helpers/moto.ts";
import { sourceYaml, startServe, type RunningServe } from "./serve-fixture.ts";

const ID = "9d1f0c3b5e7a4b2d8c6e0f1a3b5c7d9e";
const PATH = `/v2/credentials/${ID}`;
let moto: PlainMoto;
let serve: RunningServe;
let configYaml: string;

beforeAll(async () => {
  moto = await startMoto();
  configYaml = [
    "server: { port: {{port}} }",
    sourceYaml(moto.endpoint, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"),
    "services:",
    "  by-path:",
    `    relative_uri: ${PATH}`,
    `    assumed_role: { RoleArn: "${moto.roleArn("role-b")}" }`,
  ].join("\n");
  serve = await startServe(configYaml);
});
afterAll(async () => {
  await serve?.proc.kill();
  await moto?.stop();
});

describe("relative_uri services", () => {
  test("GET on the secret path returns the service's credentials without any token", async () => {
    const res = await fetch(serve.url(PATH));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { RoleArn: string }).RoleArn).toBe(moto.roleArn("role-b"));
  });

  test("any other path, a near miss or a trailing slash, is a plain 404", async () => {
    for (const path of [`${PATH}/`, PATH.slice(0, -1), `/v2/credentials/${ID.toUpperCase()}`, "/v2/credentials/"]) {
      expect((await fetch(serve.url(path))).status).toBe(404);
    }
  });

  test("the path is not a token: sending it as Authorization to /v1/credentials is refused", async () => {
    expect((await serve.credentials(PATH)).status).toBe(401);
  });

  test("the path never appears in logs or in validate's output", async () => {
    expect(serve.proc.stderrLines.join("\n")).not.toContain(ID);
    const file = join(serve.dir, "copy.yaml");
    await writeFile(file, configYaml.replace("{{port}}", "1338"));
    const r = await runCredproxy(["validate", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("by-path");
    expect(r.stdout).toContain("selected by relative URI");
    expect(r.stdout).not.toContain(ID);
  });
});
