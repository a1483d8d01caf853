import { describe, expect, test } from "bun:test";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseTunnelConfigText } from "../tunnel/load-tunnel-config.ts";
import { DEFAULT_MTU, tunnelUpSettings } from "./tunnel-settings.ts";

const ENV = { AWS_REGION: "eu-west-1" };
const FILE = parseTunnelConfigText(
  ["cidrs: [10.20.0.0/16, 10.30.0.0/16]", "tags: {Name: bastion}", "region: us-east-2", "profile: dev", "document: My-Port-Doc", "agent_port: 9000", "name: work", "mtu: 1300", "dns: [Internal.Corp.]", "dns_mode: local", "sessions: 4", "stream_endpoint: Stream.Example.Internal:8443"].join("\n"),
  "tunnel.yaml",
  { env: {} },
);

function usageMessage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CredproxyError);
    expect((error as CredproxyError).code).toBe(ErrorCode.Usage);
    return (error as CredproxyError).message;
  }
  throw new Error("expected a usage error");
}

describe("tunnel up settings", () => {
  test("flags alone give the settings, with the defaults filled in and the region from the environment", () => {
    expect(tunnelUpSettings({ cidr: ["10.20.0.0/16"], "instance-id": "i-0123456789abcdef0" }, undefined, ENV)).toEqual({
      cidrs: ["10.20.0.0/16"],
      instanceId: "i-0123456789abcdef0",
      tags: undefined,
      region: "eu-west-1",
      profile: undefined,
      document: "AWS-StartSSHSession",
      streamEndpoint: undefined,
      agentPort: 7860,
      name: undefined,
      mtu: DEFAULT_MTU,
      dns: [],
      dnsMode: "auto",
      sessions: 1,
    });
  });

  test("the file alone gives every key it sets", () => {
    expect(tunnelUpSettings({}, FILE, ENV)).toEqual({
      cidrs: ["10.20.0.0/16", "10.30.0.0/16"],
      instanceId: undefined,
      tags: { Name: "bastion" },
      region: "us-east-2",
      profile: "dev",
      document: "My-Port-Doc",
      streamEndpoint: "stream.example.internal:8443",
      agentPort: 9000,
      name: "work",
      mtu: 1300,
      dns: ["internal.corp"],
      dnsMode: "local",
      sessions: 4,
    });
  });

  test("flags win over the file key by key, and a repeated flag replaces the file's whole list", () => {
    const s = tunnelUpSettings({ cidr: ["172.16.0.0/12"], region: "ap-south-1", "agent-port": "7000", name: "other" }, FILE, ENV);
    expect(s).toMatchObject({ cidrs: ["172.16.0.0/12"], region: "ap-south-1", agentPort: 7000, name: "other", profile: "dev", document: "My-Port-Doc", tags: { Name: "bastion" } });
    expect(tunnelUpSettings({ "stream-endpoint": "relay.example.invalid" }, FILE, ENV).streamEndpoint).toBe("relay.example.invalid");
  });

  test("--sessions wins over the file's sessions", () => {
    expect(tunnelUpSettings({ sessions: "2" }, FILE, ENV).sessions).toBe(2);
  });

  test("--dns zones are checked, lowered and kept once; --dns-mode is one of auto, resolved, local and needs --dns", () => {
    const base = { cidr: ["10.20.0.0/16"], "instance-id": "i-0123456789abcdef0" };
    expect(tunnelUpSettings({ ...base, dns: ["internal.corp", "INTERNAL.corp", "compute.internal"], "dns-mode": "resolved" }, undefined, ENV)).toMatchObject({ dns: ["internal.corp", "compute.internal"], dnsMode: "resolved" });
    expect(tunnelUpSettings({ dns: ["other.corp"] }, FILE, ENV)).toMatchObject({ dns: ["other.corp"], dnsMode: "local" });
    expect(usageMessage(() => tunnelUpSettings({ ...base, dns: ["."] }, undefined, ENV))).toContain('--dns ".": the root zone would send every name through the tunnel');
    expect(usageMessage(() => tunnelUpSettings({ ...base, dns: ["a.corp"], "dns-mode": "magic" }, undefined, ENV))).toContain('invalid --dns-mode "magic" (one of auto, resolved, local)');
    expect(usageMessage(() => tunnelUpSettings({ ...base, "dns-mode": "local" }, undefined, ENV))).toContain("--dns-mode needs --dns ZONE");
  });

  test("--instance-id replaces the file's tags, and --tag the file's instance id", () => {
    expect(tunnelUpSettings({ "instance-id": "i-0aaaabbbbccccdddd" }, FILE, ENV)).toMatchObject({ instanceId: "i-0aaaabbbbccccdddd", tags: undefined });
    const byId = parseTunnelConfigText("cidrs: [10.20.0.0/16]\ninstance_id: i-0123456789abcdef0\n", "t.yaml", { env: {} });
    expect(tunnelUpSettings({ tag: ["Env=prod", "Role=bastion"] }, byId, ENV)).toMatchObject({ instanceId: undefined, tags: { Env: "prod", Role: "bastion" } });
  });

  test("a bad flag is a usage error that names it", () => {
    const base = { cidr: ["10.20.0.0/16"], "instance-id": "i-0123456789abcdef0" };
    expect(usageMessage(() => tunnelUpSettings({ ...base, cidr: ["10.20.0.0/33"] }, undefined, ENV))).toContain('--cidr "10.20.0.0/33"');
    expect(usageMessage(() => tunnelUpSettings({ ...base, "instance-id": "web-1" }, undefined, ENV))).toContain('--instance-id "web-1"');
    expect(usageMessage(() => tunnelUpSettings({ ...base, "agent-port": "70000" }, undefined, ENV))).toContain('--agent-port "70000"');
    expect(usageMessage(() => tunnelUpSettings({ ...base, mtu: "12x" }, undefined, ENV))).toContain('--mtu "12x"');
    expect(usageMessage(() => tunnelUpSettings({ ...base, sessions: "9" }, undefined, ENV))).toBe('tunnel up: invalid --sessions "9" (a whole number from 1 to 8)');
    expect(usageMessage(() => tunnelUpSettings({ ...base, sessions: "0" }, undefined, ENV))).toContain('--sessions "0"');
    expect(usageMessage(() => tunnelUpSettings({ ...base, name: "../etc" }, undefined, ENV))).toContain('--name "../etc"');
    expect(usageMessage(() => tunnelUpSettings({ ...base, region: "Mars" }, undefined, ENV))).toContain('region "Mars"');
    expect(usageMessage(() => tunnelUpSettings({ ...base, "stream-endpoint": "wss://relay.example.invalid" }, undefined, ENV))).toContain('--stream-endpoint "wss://relay.example.invalid"');
    expect(usageMessage(() => tunnelUpSettings({ cidr: ["10.20.0.0/16"], tag: ["Name"] }, undefined, ENV))).toContain('--tag "Name" is not KEY=VALUE');
    expect(usageMessage(() => tunnelUpSettings({ ...base, tag: ["Name=x"] }, undefined, ENV))).toContain("either --instance-id or --tag");
  });

  test("without a CIDR or an instance it says which is missing", () => {
    expect(usageMessage(() => tunnelUpSettings({ "instance-id": "i-0123456789abcdef0" }, undefined, ENV))).toContain("no --cidr given");
    expect(usageMessage(() => tunnelUpSettings({ cidr: ["10.20.0.0/16"] }, undefined, ENV))).toContain("no instance selected");
  });
});
