/**
 * The JSON Schemas committed under schema/ for editors (e.g. `# yaml-language-server:
 * $schema=…/schema/config.schema.json`). They are the schemas the loader validates with, and a
 * test keeps the files equal to them; `bun src/config/schema-files.ts` rewrites the files.
 */
import { brokerConfigSchema } from "./broker-schema.ts";
import { configSchema } from "./schema.ts";
import { schemaReference } from "./schema-docs.ts";
import { servicesFileSchema } from "./services-schema.ts";
import { proxyConfigSchema, proxyRunSchema } from "../proxy/config/proxy-schema.ts";
import { tunnelConfigSchema } from "../tunnel/tunnel-schema.ts";

export const SCHEMA_FILES: Readonly<Record<string, unknown>> = {
  "config.schema.json": configSchema,
  "broker.schema.json": brokerConfigSchema,
  "services-file.schema.json": servicesFileSchema,
  "proxy.schema.json": proxyConfigSchema,
  "proxy-run.schema.json": proxyRunSchema,
  "tunnel.schema.json": tunnelConfigSchema,
};

/** A file's text: the schema as `validate --print-schema` prints it. */
export function schemaText(schema: unknown): string {
  return JSON.stringify(schema, null, 2) + "\n";
}

/** Where the generated reference lives, from the repository root. */
export const REFERENCE_FILE = "docs/configuration.md";

if (import.meta.main) {
  const root = new URL("../../", import.meta.url).pathname;
  for (const [name, schema] of Object.entries(SCHEMA_FILES)) await Bun.write(`${root}schema/${name}`, schemaText(schema));
  await Bun.write(root + REFERENCE_FILE, schemaReference(SCHEMA_FILES));
}
