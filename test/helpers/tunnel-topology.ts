/**
 * The three network namespaces of the tunnel tests (ssm-tunnel.md §11), named uniquely per run:
 *
 *   client   198.51.100.1/30 ──veth── 198.51.100.2/30   instance   (the "internet" path to SSM)
 *   instance  10.99.0.1/24   ──veth── 10.99.0.2/24 (+ 10.99.0.3) vpc  (the private network)
 *
 * The client namespace has no route to 10.99.0.0/24 (only a tunnel gives it one), and the vpc
 * namespace has no route back to the client's or a tunnel's addresses, so a reply from a vpc
 * host proves that the tunnel and the instance's NAT both worked. `lo` is up in all three.
 * `remove()` deletes the namespaces (and with them every veth, TUN and route inside); call it in
 * afterAll whatever happened. Needs root; `ok` is false and `why` says what failed otherwise.
 */
import { orphanGuard } from "./cleanup.ts";
import { spawnCredproxy, type CredproxyProcess, type EnvOverrides } from "./binary.ts";

export const CLIENT_ADDRESS = "198.51.100.1";
export const INSTANCE_ADDRESS = "198.51.100.2";
export const INSTANCE_VPC_ADDRESS = "10.99.0.1";
export const VPC_HOST = "10.99.0.2";
/** A second address of the vpc host, for tests that want two destinations. */
export const VPC_HOST_2 = "10.99.0.3";
export const VPC_CIDR = "10.99.0.0/24";

export interface TunnelTopology {
  readonly client: string;
  readonly instance: string;
  readonly vpc: string;
  /** The instance's interface toward the vpc (the one MASQUERADE goes out of). */
  readonly instanceVpcDevice: string;
  readonly ok: boolean;
  readonly why: string;
  remove(): void;
}

let created = 0;

/** Creates the three namespaces; `tag` (a few letters) keeps names apart between test files. */
export function createTunnelTopology(tag: string): TunnelTopology {
  const id = `${tag.slice(0, 3)}${process.pid % 100000}${created++ % 10}`;
  const client = `cp-${id}-cli`;
  const instance = `cp-${id}-ins`;
  const vpc = `cp-${id}-vpc`;
  // Interface names are at most 15 bytes.
  const [cliSide, insCliSide, insVpcSide, vpcSide] = ["c", "ic", "iv", "v"].map((s) => `cp${id}${s}`.slice(-15));
  const remove = (): void => {
    for (const ns of [client, instance, vpc]) Bun.spawnSync(["ip", "netns", "del", ns], { stderr: "ignore" });
  };
  const steps = [
    ...[client, instance, vpc].flatMap((ns) => [
      ["ip", "netns", "add", ns],
      ["ip", "-n", ns, "link", "set", "lo", "up"],
    ]),
    ["ip", "-n", client, "link", "add", cliSide!, "type", "veth", "peer", "name", insCliSide!, "netns", instance],
    ["ip", "-n", client, "addr", "add", `${CLIENT_ADDRESS}/30`, "dev", cliSide!],
    ["ip", "-n", instance, "addr", "add", `${INSTANCE_ADDRESS}/30`, "dev", insCliSide!],
    ["ip", "-n", client, "link", "set", cliSide!, "up"],
    ["ip", "-n", instance, "link", "set", insCliSide!, "up"],
    ["ip", "-n", instance, "link", "add", insVpcSide!, "type", "veth", "peer", "name", vpcSide!, "netns", vpc],
    ["ip", "-n", instance, "addr", "add", `${INSTANCE_VPC_ADDRESS}/24`, "dev", insVpcSide!],
    ["ip", "-n", vpc, "addr", "add", `${VPC_HOST}/24`, "dev", vpcSide!],
    ["ip", "-n", vpc, "addr", "add", `${VPC_HOST_2}/24`, "dev", vpcSide!],
    ["ip", "-n", instance, "link", "set", insVpcSide!, "up"],
    ["ip", "-n", vpc, "link", "set", vpcSide!, "up"],
  ];
  let why = process.getuid?.() === 0 ? "" : "not running as root";
  for (const step of why === "" ? steps : []) {
    const r = Bun.spawnSync(step);
    if (r.exitCode !== 0) {
      why = `${step.join(" ")}: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`;
      break;
    }
  }
  if (why !== "") remove();
  return { client, instance, vpc, instanceVpcDevice: insVpcSide!, ok: why === "", why, remove };
}

/** The namespaces of this name that exist now (for leak checks). */
export function existingNamespaces(): string[] {
  const r = Bun.spawnSync(["ip", "-j", "netns", "list"]);
  const text = r.stdout.toString().trim();
  if (text === "") return [];
  return (JSON.parse(text) as { name: string }[]).map((n) => n.name);
}

export interface InNamespaceOptions {
  /** The child's environment on top of a clean one (see cleanEnv in binary.ts). */
  readonly env?: EnvOverrides;
  readonly cwd?: string;
  readonly stdin?: "ignore" | "pipe";
}

/**
 * Starts `command` inside namespace `ns` (ip netns exec, which execs it: the pid is the
 * command's). The result has the binary helper's line waiting (`waitForLine(re, ms, "stdout")`),
 * kill and tail; it dies with the test process and is killed by cleanupAll.
 */
export function spawnInNamespace(ns: string, command: readonly string[], options: InNamespaceOptions = {}): CredproxyProcess {
  return spawnCredproxy(["netns", "exec", ns, ...command], {
    binary: ipCommand(),
    env: { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin`, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
  });
}

/**
 * Runs `command` in `ns` to completion: exit code and output. `env` is added to this process's
 * environment, or with `exactEnv` is the whole of it (cleanEnv(), so no host AWS setting leaks in).
 */
export async function runInNamespace(
  ns: string,
  command: readonly string[],
  options: { env?: Record<string, string>; exactEnv?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(orphanGuard([ipCommand(), "netns", "exec", ns, ...command]), {
    stdout: "pipe",
    stderr: "pipe",
    env: options.exactEnv ? { ...options.env } : { ...process.env, ...options.env },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out: out.trim(), err: err.slice(-2000) };
}

/** `ip -j` output of `args` run in `ns`, parsed. */
export function ipJson<T>(ns: string, args: readonly string[]): T {
  const r = Bun.spawnSync([ipCommand(), "-j", "-n", ns, ...args]);
  if (r.exitCode !== 0) throw new Error(`ip -n ${ns} ${args.join(" ")}: ${r.stderr.toString().trim()}`);
  const text = r.stdout.toString().trim();
  return JSON.parse(text === "" ? "[]" : text) as T;
}

/** Interface names in `ns`. */
export function linkNames(ns: string): string[] {
  return ipJson<{ ifname: string }[]>(ns, ["link", "show"]).map((l) => l.ifname);
}

/** The routes of `ns`'s main table, as `ip route` prints them (dst + dev). */
export function routes(ns: string): { dst: string; dev: string }[] {
  return ipJson<{ dst: string; dev: string }[]>(ns, ["route", "show"]);
}

function ipCommand(): string {
  return Bun.which("ip", { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }) ?? "ip";
}
