/**
 * startFakeSsm as a process of its own, for running the fake inside a network namespace (the
 * "instance" of the tunnel tests), with the /_fake/ control API on (fake-control.ts):
 *
 *   bun test/helpers/fake-ssm/serve-fake-ssm.ts --host 198.51.100.2 [--port 0]
 *       [--target 127.0.0.1:7860] [--instance i-…]... [--read-pause-ms 1] [--seed 12] [--unsigned-ok]
 *       [--document NAME]... [--deny-document NAME]... [--agent-version 3.3.4624.0]
 *
 * `--target` is where each session's fake SSM agent dials (the real agent dials localhost on the
 * instance). Prints `fake-ssm listening on http://HOST:PORT` on stdout when ready; stops on
 * SIGTERM or SIGINT.
 */
import { parseArgs } from "node:util";
import { DEFAULT_INSTANCE_ID, startFakeSsm } from "./fake-ssm.ts";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    target: { type: "string", default: "127.0.0.1:7860" },
    instance: { type: "string", multiple: true },
    "read-pause-ms": { type: "string", default: "1" },
    seed: { type: "string", default: "12" },
    "unsigned-ok": { type: "boolean", default: false },
    document: { type: "string", multiple: true },
    "deny-document": { type: "string", multiple: true },
    "agent-version": { type: "string" },
  },
});

const at = values.target!.lastIndexOf(":");
const target = { host: values.target!.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(values.target!.slice(at + 1)) };
if (at < 0 || !Number.isInteger(target.port)) throw new Error(`--target wants HOST:PORT, not ${values.target}`);

const fake = startFakeSsm({
  hostname: values.host!,
  port: Number(values.port),
  target,
  instances: values.instance ?? [DEFAULT_INSTANCE_ID],
  readPauseMs: Number(values["read-pause-ms"]),
  seed: Number(values.seed),
  requireSignedUpgrade: !values["unsigned-ok"],
  control: true,
  ...(values.document === undefined ? {} : { documents: values.document }),
  ...(values["deny-document"] === undefined ? {} : { deniedDocuments: values["deny-document"] }),
  ...(values["agent-version"] === undefined ? {} : { agentVersion: values["agent-version"] }),
});
console.log(`fake-ssm listening on ${fake.apiUrl}`);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    void fake.stop().finally(() => process.exit(0));
  });
}
