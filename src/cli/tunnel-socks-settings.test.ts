import { describe, expect, test } from "bun:test";
import { parseForward, tunnelSocksSettings } from "./tunnel-socks-settings.ts";

describe("tunnel socks settings", () => {
  test("defaults: the proxy on 127.0.0.1:1080, no forwards", () => {
    expect(tunnelSocksSettings({ "instance-id": "i-0123456789abcdef0" }, {})).toMatchObject({
      listen: { host: "127.0.0.1", port: 1080 },
      forwards: [],
      instanceId: "i-0123456789abcdef0",
      region: "us-east-1",
      agentPort: 7860,
    });
  });

  test("-L takes PORT:HOST:PORT with an optional bind address, IPv6 in brackets", () => {
    expect(parseForward("5432:db.internal:5432")).toMatchObject({ bindHost: "127.0.0.1", bindPort: 5432, host: "db.internal", port: 5432 });
    expect(parseForward("127.0.0.2:0:10.0.1.5:22")).toMatchObject({ bindHost: "127.0.0.2", bindPort: 0, host: "10.0.1.5", port: 22 });
    expect(parseForward("[::1]:8443:[fd00::5]:443")).toMatchObject({ bindHost: "::1", host: "fd00::5", port: 443 });
  });

  test("bad input names the flag, the value and the form", () => {
    expect(() => parseForward("db:5432")).toThrow('tunnel socks: -L "db:5432": not [BIND:]PORT:HOST:PORT; write -L [BIND:]PORT:HOST:PORT');
    expect(() => parseForward("5432:db:0")).toThrow("ports are 1..65535");
    expect(() => tunnelSocksSettings({}, {})).toThrow("no instance selected");
    expect(() => tunnelSocksSettings({ "instance-id": "i-0123456789abcdef0", "no-proxy": true }, {})).toThrow("--no-proxy with no -L forward");
    expect(() => tunnelSocksSettings({ "instance-id": "i-0123456789abcdef0", listen: "1080" }, {})).toThrow('invalid --listen "1080"');
  });
});
