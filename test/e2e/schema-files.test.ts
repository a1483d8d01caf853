/** The JSON Schemas under schema/ (for editors) are the ones credproxy validates with. */
import { describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { schemaReference } from "../../src/config/schema-docs.ts";
import { REFERENCE_FILE, SCHEMA_FILES, schemaText } from "../../src/config/schema-files.ts";
import { REPO_ROOT, runCredproxy } from "../helpers/binary.ts";

const committed = (name: string) => readFile(join(REPO_ROOT, "schema", name), "utf8");
const STALE = "schema/ or docs/configuration.md is stale: run `bun src/config/schema-files.ts` and commit the result";

describe("schema/", () => {
  test("config.schema.json is what validate --print-schema prints", async () => {
    const printed = await runCredproxy(["validate", "--print-schema"]);
    expect(printed.code).toBe(0);
    expect(printed.stdout, STALE).toBe(await committed("config.schema.json"));
  });

  test("broker.schema.json is what validate --broker --print-schema prints", async () => {
    const printed = await runCredproxy(["validate", "--broker", "--print-schema"]);
    expect(printed.stdout, STALE).toBe(await committed("broker.schema.json"));
  });

  test("tunnel.schema.json is what validate --tunnel --print-schema prints", async () => {
    const printed = await runCredproxy(["validate", "--tunnel", "--print-schema"]);
    expect(printed.stdout, STALE).toBe(await committed("tunnel.schema.json"));
  });

  test("every committed schema equals its source and carries an $id", async () => {
    for (const [name, schema] of Object.entries(SCHEMA_FILES)) {
      const text = await committed(name);
      expect({ name, same: text === schemaText(schema) }, STALE).toEqual({ name, same: true });
      expect((JSON.parse(text) as { $id?: string }).$id).toMatch(/^urn:credproxy:schema:/);
    }
  });

  test("docs/configuration.md is the reference generated from these schemas", async () => {
    const text = await readFile(join(REPO_ROOT, REFERENCE_FILE), "utf8");
    expect(text === schemaReference(SCHEMA_FILES), STALE).toBe(true);
    for (const key of ["`server.port`", "`services.<name>.assumed_role.RoleArn`", "`dynamic_services.directories[].secrets_directory`", "`socket.allow_uids`"]) {
      expect(text).toContain(key);
    }
  });
});
