/**
 * installNat() forwards for real, across three network namespaces this file creates and
 * removes: client (100.64.0.2, default route via the agent) → agent (100.64.0.1 and
 * 192.0.2.1, running installNat for pool 100.64.0.0/24) → host (192.0.2.2, no route back to
 * 100.64.0.0/24). The host sees the agent's address as the source, which proves MASQUERADE,
 * and its reply reaches the client only because conntrack reverses the NAT. A datagram to a
 * host address outside allowCidrs is dropped by our rule. Needs root and iptables; skipped otherwise.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/binary.ts";

const tag = `${process.pid % 10000}`;
const client = `cp-natc-${process.pid}`;
const agent = `cp-nata-${process.pid}`;
const host = `cp-nath-${process.pid}`;
const [toClient, fromClient, toHost, fromHost] = ["ac", "c", "ah", "h"].map((s) => `cpn${tag}${s}`);
const PORT = "40999";
/** On the host too, but outside the agent's allowCidrs (TEST-NET-2). */
const OUTSIDE = "198.51.100.2";

function setUp(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  if (!Bun.which("iptables", { PATH: `${process.env.PATH}:/usr/sbin:/sbin` })) return "no iptables";
  const steps = [
    ...[client, agent, host].flatMap((ns) => [["ip", "netns", "add", ns], ["ip", "-n", ns, "link", "set", "lo", "up"]]),
    ["ip", "-n", agent, "link", "add", toClient!, "type", "veth", "peer", "name", fromClient!, "netns", client],
    ["ip", "-n", agent, "link", "add", toHost!, "type", "veth", "peer", "name", fromHost!, "netns", host],
    ["ip", "-n", agent, "addr", "add", "100.64.0.1/24", "dev", toClient!],
    ["ip", "-n", agent, "addr", "add", "192.0.2.1/24", "dev", toHost!],
    ["ip", "-n", client, "addr", "add", "100.64.0.2/24", "dev", fromClient!],
    ["ip", "-n", host, "addr", "add", "192.0.2.2/24", "dev", fromHost!],
    ["ip", "-n", agent, "link", "set", toClient!, "up"],
    ["ip", "-n", agent, "link", "set", toHost!, "up"],
    ["ip", "-n", client, "link", "set", fromClient!, "up"],
    ["ip", "-n", host, "link", "set", fromHost!, "up"],
    ["ip", "-n", client, "route", "add", "default", "via", "100.64.0.1"],
    ["ip", "-n", host, "addr", "add", `${OUTSIDE}/32`, "dev", fromHost!],
    ["ip", "-n", agent, "route", "add", `${OUTSIDE}/32`, "via", "192.0.2.2"],
    ["ip", "netns", "exec", agent, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"],
  ];
  for (const step of steps) {
    const r = Bun.spawnSync(step);
    if (r.exitCode !== 0) return `${step.join(" ")}: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`;
  }
  return undefined;
}

const failure = setUp();
if (failure !== undefined) {
  if (process.env.CI) throw new Error(`three network namespaces with iptables are required in CI: ${failure}`);
  console.warn(`SKIP: agent NAT forwarding test: ${failure}`);
}
const started: { kill(): void }[] = [];
afterAll(() => {
  for (const proc of started) proc.kill();
  for (const ns of [client, agent, host]) Bun.spawnSync(["ip", "netns", "del", ns]);
});

/** Starts `script` with Bun in `ns`; `line()` resolves with each next stdout line. */
function start(ns: string, script: string, args: string[]) {
  const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  started.push(proc);
  const reader = proc.stdout.getReader();
  let buffered = "";
  async function line(): Promise<string> {
    for (;;) {
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        const out = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        return out;
      }
      const chunk = await reader.read();
      if (chunk.done) return `EOF: ${await new Response(proc.stderr).text()}`;
      buffered += new TextDecoder().decode(chunk.value);
    }
  }
  return { proc, line };
}

async function ipForward(): Promise<string> {
  const r = Bun.spawnSync(["ip", "netns", "exec", agent, "cat", "/proc/sys/net/ipv4/ip_forward"]);
  return r.stdout.toString().trim();
}

/** Packets counted by our DROP rule (for the destination outside allowCidrs). */
function dropped(): number {
  const out = Bun.spawnSync(["ip", "netns", "exec", agent, "iptables", "-t", "filter", "-L", "CREDPROXY-FWD", "-v", "-x", "-n"]).stdout.toString();
  const rule = out.split("\n").find((l) => /\bDROP\b/.test(l));
  return rule ? Number(rule.trim().split(/\s+/)[0]) : -1;
}

describe.skipIf(failure !== undefined)("a client packet through the agent namespace", () => {
  test("reaches the host with the agent's address as source, its reply comes back, and a destination outside allowCidrs is dropped", async () => {
    const nat = start(agent, "test/integration/nat-forward-agent.ts", ["100.64.0.0/24", toHost!, "192.0.2.0/24"]);
    expect(await nat.line()).toBe("installed");
    expect(await ipForward()).toBe("1");

    const echo = start(host, "test/integration/nat-forward-udp.ts", ["echo", "192.0.2.2", PORT]);
    expect(await echo.line()).toBe("listening");
    const send = start(client, "test/integration/nat-forward-udp.ts", ["send", "192.0.2.2", PORT]);

    const seen = JSON.parse(await echo.line()) as { from: string; text: string };
    expect(seen).toMatchObject({ from: "192.0.2.1", text: "ping" });
    expect(JSON.parse(await send.line())).toEqual({ from: "192.0.2.2", text: "pong" });

    const outside = start(host, "test/integration/nat-forward-udp.ts", ["echo", OUTSIDE, PORT]);
    expect(await outside.line()).toBe("listening");
    const blocked = start(client, "test/integration/nat-forward-udp.ts", ["send", OUTSIDE, PORT, "1000"]);
    expect(JSON.parse(await blocked.line())).toMatchObject({ timeout: true });
    expect(dropped()).toBeGreaterThanOrEqual(1);
    outside.proc.kill();

    nat.proc.stdin.end();
    expect(await nat.line()).toBe("removed");
    expect(await nat.proc.exited).toBe(0);
    expect(await ipForward()).toBe("0");
    const rules = Bun.spawnSync(["ip", "netns", "exec", agent, "iptables-save"]).stdout.toString();
    expect(rules).not.toContain("CREDPROXY");
  });
});
