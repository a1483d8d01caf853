import { parseCommandArgs, type OptionSpec } from "../args.ts";
import type { Command } from "./index.ts";
import { proxyLocation } from "./proxy-flags.ts";

const USAGE = `Usage: credproxy proxy ca [--config PATH]

Prints the proxy's CA certificate (PEM) on stdout, generating the CA first if it does not
exist yet, and on stderr how to make a system trust it. For sandboxes prefer the bundle that
\`credproxy proxy env\` points at: it adds the public roots, which several tools need.

Options:
  -c, --config PATH   proxy.yaml (as for credproxy proxy)
  -h, --help          Show this help`;

const FLAGS = { config: { type: "string", short: "c" } } as const satisfies OptionSpec;

export const proxyCaCommand: Command = {
  name: "ca",
  summary: "Print the proxy's CA certificate and how to trust it",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs("proxy ca", argv, FLAGS);
    const { proxyCaFor, trustInstructions } = await import("../../proxy/sandbox-env-for.ts");
    const ca = await proxyCaFor(await proxyLocation("proxy ca", values.config));
    process.stdout.write(ca.certPem.endsWith("\n") ? ca.certPem : ca.certPem + "\n");
    process.stderr.write(trustInstructions(ca.certPath));
    return 0;
  },
};
