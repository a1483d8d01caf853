import { describe, expect, test } from "bun:test";
import { CredproxyError, ErrorCode } from "../errors.ts";
import { parseTunnelConfigText } from "./load-tunnel-config.ts";

function problems(text: string): string {
  try {
    parseTunnelConfigText(text, "tunnel.yaml", { env: {} });
  } catch (error) {
    expect(error).toBeInstanceOf(CredproxyError);
    expect((error as CredproxyError).code).toBe(ErrorCode.ConfigInvalid);
    return (error as CredproxyError).message;
  }
  throw new Error("expected the file to be refused");
}

describe("the tunnel file", () => {
  test("a valid file gives every key in tunnel up's terms", () => {
    const file = parseTunnelConfigText("cidrs: [' 10.20.0.0/16']\ninstance_id: i-0123456789abcdef0\nagent_port: 7000\nname: ${fromEnv:N}\n", "t.yaml", { env: { N: "work" } });
    expect(file).toMatchObject({ cidrs: ["10.20.0.0/16"], instanceId: "i-0123456789abcdef0", agentPort: 7000, name: "work" });
    expect(file.file).toEndWith("/t.yaml");
  });

  test("every problem is reported at once, schema and CIDR checks together, each with file:line:col and key path", () => {
    const message = problems("cidrs: [10.20.0.0/16, 10.20.0.0/33, 10.20.0.0/16]\ninstance_id: i-0123456789abcdef0\ntags: {Name: x}\nagent_port: 99999\nbogus: 1\n");
    expect(message).toStartWith("Invalid config tunnel.yaml (5 problems):");
    expect(message).toContain('tunnel.yaml:1:23: cidrs[1]: prefix length "33"');
    expect(message).toContain("tunnel.yaml:1:37: cidrs[2]: 10.20.0.0/16 is given twice");
    expect(message).toContain("tunnel.yaml:3:1: tags: give either instance_id or tags, not both");
    expect(message).toContain("tunnel.yaml:4:13: agent_port: must be from 1 to 65535");
    expect(message).toContain("tunnel.yaml:5:1: bogus: unknown key");
  });

  test("sessions: is a whole number from 1 to 8", () => {
    expect(parseTunnelConfigText("cidrs: [10.20.0.0/16]\nsessions: 4\n", "t.yaml", { env: {} }).sessions).toBe(4);
    expect(problems("cidrs: [10.20.0.0/16]\nsessions: 9\n")).toContain("tunnel.yaml:2:11: sessions: must be from 1 to 8");
    expect(problems("cidrs: [10.20.0.0/16]\nsessions: 1.5\n")).toContain("sessions");
  });

  test("a CIDR entry that is not a string is the schema's problem only", () => {
    const message = problems("cidrs: [10.20.0.0/16, 7]\n");
    expect(message).toContain("cidrs[1]");
    expect(message.match(/cidrs\[1\]/g)).toHaveLength(1);
  });

  test("dns zones are checked like --dns, dns_mode against its three values", () => {
    const message = problems("cidrs: [10.20.0.0/16]\ninstance_id: i-0123456789abcdef0\ndns: [internal.corp, 'a..b']\ndns_mode: sometimes\n");
    expect(message).toContain("tunnel.yaml:3:22: dns[1]: an empty label (two dots in a row)");
    expect(message).toContain(`tunnel.yaml:4:11: dns_mode: must be one of "auto", "resolved", "local"`);
    expect(parseTunnelConfigText("cidrs: [10.20.0.0/16]\ndns: [compute.internal]\ndns_mode: resolved\n", "t.yaml", { env: {} })).toMatchObject({ dns: ["compute.internal"], dnsMode: "resolved" });
  });
});
