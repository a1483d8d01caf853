/**
 * The configured endpoint of one service, found the way the AWS CLI finds it for `--profile P`:
 * AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then the profile's `services` section
 * (`ec2 =\n  endpoint_url = …`), then the profile's `endpoint_url`; nothing at all when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or `ignore_configured_endpoint_urls`) is true.
 *
 * Why not leave it to the SDK: it does read the variables itself, but its file lookup
 * (@smithy/core 3.41 `getEndpointFromConfig`) takes no profile, so it reads AWS_PROFILE's (or the
 * default) profile and ignores the client's `profile` option. Same order, same keys, our profile.
 */
import { booleanSelector, loadConfig, SelectorType } from "@smithy/core/config";

export type TunnelService = "EC2" | "SSM";

type Section = Record<string, string | undefined>;

/** The endpoint URL to pass to the client, or undefined for the SDK's regional default. */
export async function configuredEndpoint(service: TunnelService, profile: string | undefined): Promise<string | undefined> {
  const configuration = profile === undefined ? {} : { profile };
  if (await loadConfig(IGNORE_CONFIGURED, configuration)()) return undefined;
  return loadConfig(endpointSelectors(service), configuration)();
}

const IGNORE_CONFIGURED = {
  environmentVariableSelector: (env: Record<string, string | undefined>) => booleanSelector(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", SelectorType.ENV),
  configFileSelector: (profile: Section) => booleanSelector(profile, "ignore_configured_endpoint_urls", SelectorType.CONFIG),
  default: false,
};

function endpointSelectors(service: TunnelService) {
  return {
    environmentVariableSelector: (env: Record<string, string | undefined>) => env[`AWS_ENDPOINT_URL_${service}`] || env["AWS_ENDPOINT_URL"] || undefined,
    configFileSelector: (profile: Section, config?: Record<string, Section>) => fromServicesSection(service, profile, config) ?? (profile["endpoint_url"] || undefined),
    default: undefined,
  };
}

function fromServicesSection(service: TunnelService, profile: Section, config: Record<string, Section> | undefined): string | undefined {
  const name = profile["services"];
  if (!name) return undefined;
  // A section the file lacks cannot be reported from here: the SDK's file loader turns anything a
  // selector throws into "try the next source". It counts as no section.
  return config?.[`services.${name}`]?.[`${service.toLowerCase()}.endpoint_url`] || undefined;
}
