/**
 * Which endpoint the tunnel clients are given, from the environment and the shared config file.
 * No requests are sent: only the resolution is checked.
 */
import { writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { tempDirSync } from "../../test/helpers/cleanup.ts";
import { configuredEndpoint } from "./tunnel-clients-endpoint";

const NAMES = ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE"] as const;
const saved = new Map(NAMES.map((n) => [n, process.env[n]]));

/** A fresh config file (fresh path, so the SDK's file cache cannot answer with an old one). */
function configFile(text: string): void {
  const path = `${tempDirSync("credproxy-endpoint-")}/config`;
  writeFileSync(path, text);
  process.env.AWS_CONFIG_FILE = path;
}

const PROFILE_WITH_SERVICES = `[profile tun]
services = local
endpoint_url = http://127.0.0.1:4000

[services local]
ec2 =
  endpoint_url = http://127.0.0.1:4001
`;

beforeEach(() => {
  for (const n of NAMES) delete process.env[n];
  process.env.AWS_CONFIG_FILE = "/dev/null";
});
afterEach(() => {
  for (const [n, v] of saved) {
    if (v === undefined) delete process.env[n];
    else process.env[n] = v;
  }
});

describe("the configured endpoint of a tunnel client", () => {
  test("is AWS_ENDPOINT_URL_EC2 for EC2 and AWS_ENDPOINT_URL_SSM for SSM", async () => {
    process.env.AWS_ENDPOINT_URL_EC2 = "http://127.0.0.1:5001";
    process.env.AWS_ENDPOINT_URL_SSM = "http://127.0.0.1:5002";
    expect(await configuredEndpoint("EC2", undefined)).toBe("http://127.0.0.1:5001");
    expect(await configuredEndpoint("SSM", undefined)).toBe("http://127.0.0.1:5002");
  });

  test("falls back to AWS_ENDPOINT_URL when the service has no variable of its own", async () => {
    process.env.AWS_ENDPOINT_URL = "http://127.0.0.1:5000";
    process.env.AWS_ENDPOINT_URL_EC2 = "http://127.0.0.1:5001";
    expect(await configuredEndpoint("SSM", undefined)).toBe("http://127.0.0.1:5000");
  });

  test("is the named profile's services section, then its endpoint_url", async () => {
    configFile(PROFILE_WITH_SERVICES);
    expect(await configuredEndpoint("EC2", "tun")).toBe("http://127.0.0.1:4001");
    expect(await configuredEndpoint("SSM", "tun")).toBe("http://127.0.0.1:4000");
  });

  test("prefers the variables over the profile, as the SDK does", async () => {
    configFile(PROFILE_WITH_SERVICES);
    process.env.AWS_ENDPOINT_URL_EC2 = "http://127.0.0.1:5001";
    expect(await configuredEndpoint("EC2", "tun")).toBe("http://127.0.0.1:5001");
  });

  test("reads the profile given, not AWS_PROFILE's", async () => {
    configFile(`[profile other]\nendpoint_url = http://127.0.0.1:4999\n\n${PROFILE_WITH_SERVICES}`);
    process.env.AWS_PROFILE = "other";
    expect(await configuredEndpoint("EC2", "tun")).toBe("http://127.0.0.1:4001");
  });

  test("is nothing when nothing is configured, leaving the SDK's regional default", async () => {
    expect(await configuredEndpoint("EC2", undefined)).toBeUndefined();
    configFile("[profile plain]\nregion = eu-west-1\n");
    expect(await configuredEndpoint("SSM", "plain")).toBeUndefined();
  });

  test("is nothing when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true", async () => {
    process.env.AWS_ENDPOINT_URL_EC2 = "http://127.0.0.1:5001";
    process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "true";
    expect(await configuredEndpoint("EC2", undefined)).toBeUndefined();
  });

  test("is the profile's endpoint_url when its services section is missing from the file", async () => {
    configFile("[profile tun]\nservices = missing\nendpoint_url = http://127.0.0.1:4000\n");
    expect(await configuredEndpoint("EC2", "tun")).toBe("http://127.0.0.1:4000");
  });
});
