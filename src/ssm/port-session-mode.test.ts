import { describe, expect, test } from "bun:test";
import { portSessionMode } from "./port-session-mode.ts";

const forwarding = { portNumber: "7860", type: "LocalPortForwarding" };

describe("the Port session's mode, as the plugin picks it", () => {
  test("AWS-StartSSHSession and custom Port documents (no type) are basic, whatever the agent", () => {
    expect(portSessionMode({ agentVersion: "3.3.4624.0", properties: { portNumber: "7860" } })).toBe("basic");
  });
  test("LocalPortForwarding with an agent newer than 3.0.196.0 is mux", () => {
    expect(portSessionMode({ agentVersion: "3.0.196.1", properties: forwarding })).toBe("mux");
    expect(portSessionMode({ agentVersion: "3.3.4624.0", properties: forwarding })).toBe("mux");
  });
  test("LocalPortForwarding with an agent of 3.0.196.0 or older, or no readable version, is basic", () => {
    expect(portSessionMode({ agentVersion: "3.0.196.0", properties: forwarding })).toBe("basic");
    expect(portSessionMode({ agentVersion: "2.3.1319.0", properties: forwarding })).toBe("basic");
    expect(portSessionMode({ agentVersion: "", properties: forwarding })).toBe("basic");
    expect(portSessionMode({ agentVersion: "latest", properties: forwarding })).toBe("basic");
  });
});
