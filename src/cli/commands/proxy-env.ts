import { parseCommandArgs, usageError, type OptionSpec } from "../args.ts";
import type { Command } from "./index.ts";
import { parseListen, proxyLocation } from "./proxy-flags.ts";

const USAGE = `Usage: credproxy proxy env [--config PATH] [--run NAME] [--proxy-address HOST:PORT] [--bundle-path PATH] [--aws | --aws-endpoint]

Prints the shell lines a sandbox needs to use the proxy: HTTPS_PROXY and HTTP_PROXY (with the
run's token in the URL), NO_PROXY, and every CA-file variable (SSL_CERT_FILE,
REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, GIT_SSL_CAINFO, AWS_CA_BUNDLE, PIP_CERT, ...) pointing
at the trust bundle: the proxy's CA plus the public roots, since several of those variables
replace a tool's own store. With --aws, also AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_SESSION_TOKEN: placeholders the proxy re-signs with the aws: credential's role, so the
sandbox holds no AWS keys. Use:  eval "$(credproxy proxy env --run ci-42 --aws)"
With --aws-endpoint, instead AWS_CONTAINER_CREDENTIALS_FULL_URI (the proxy's
/_credproxy/aws/credentials) and AWS_CONTAINER_AUTHORIZATION_TOKEN (the run's token): the SDKs
then fetch the role's real keys from the proxy (an aws credential with container_endpoint: true).

Options:
  -c, --config PATH           proxy.yaml (as for credproxy proxy)
      --run NAME              The run (a file in runs_dir) whose token goes in the URL
      --proxy-address HOST:PORT
                              Where the sandbox reaches the proxy (e.g. host.docker.internal:3128).
                              Default: listen from the config
      --bundle-path PATH      The trust bundle's path as the sandbox sees it (a mount).
                              Default: where the proxy writes it, beside its CA
      --aws                   Add the placeholder AWS keys of the run's aws: credential
      --aws-credential NAME   The same, for the aws: credential NAME (when there are several)
      --aws-endpoint          Add the container credential endpoint's URL and token instead
  -h, --help                  Show this help

The lines carry the token: print them into the sandbox, not into a log.`;

const FLAGS = {
  config: { type: "string", short: "c" },
  run: { type: "string" },
  "proxy-address": { type: "string" },
  "bundle-path": { type: "string" },
  aws: { type: "boolean" },
  "aws-credential": { type: "string" },
  "aws-endpoint": { type: "boolean" },
} as const satisfies OptionSpec;

export const proxyEnvCommand: Command = {
  name: "env",
  summary: "Print the environment a sandbox needs (proxy URL with token, CA bundle variables)",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const { values } = parseCommandArgs("proxy env", argv, FLAGS);
    const address = values["proxy-address"] === undefined ? undefined : parseListen("proxy env", values["proxy-address"]);
    const { sandboxEnvFor } = await import("../../proxy/sandbox-env-for.ts");
    const lines = await sandboxEnvFor({
      location: await proxyLocation("proxy env", values.config),
      run: values.run,
      address,
      bundlePath: values["bundle-path"],
      aws: values["aws-credential"] ?? values.aws,
      awsEndpoint: values["aws-endpoint"],
      usage: (message) => usageError("proxy env", message),
    });
    process.stdout.write(lines);
    return 0;
  },
};
