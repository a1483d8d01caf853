/**
 * Puts client packets back on the network from `credproxy agent`: IPv4 forwarding on, and
 * MASQUERADE plus FORWARD rules for the client pool, added on start and removed on exit.
 * Only our own chains (iptables) or our own table (nft) are ever touched, so removal is exact.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { parseCidr } from "../net/cidr.ts";
import { spawnRunner, type CommandRunner } from "./command-runner.ts";
import { detectFirewall, type FirewallKind } from "./detect-firewall.ts";
import { enableIpForward, IP_FORWARD_FILE } from "./ip-forward.ts";
import { iptablesPlan } from "./nat-iptables.ts";
import type { NatPlan, NatSpec, NatStep } from "./nat-plan.ts";
import { nftPlan } from "./nat-nft.ts";

export { detectFirewall, type FirewallKind } from "./detect-firewall.ts";

export interface InstallNatOptions {
  /** The client address pool, e.g. "100.64.0.0/24" (IPv4). */
  pool: string;
  /** Masquerade only traffic leaving through this interface (default: any). */
  outInterface?: string | undefined;
  /** Destinations the pool may reach; everything else from the pool is dropped. Default: all. */
  allowCidrs?: string[] | undefined;
  runner?: CommandRunner | undefined;
  /** Default: detectFirewall(). */
  firewall?: FirewallKind | undefined;
  /** Default: /proc/sys/net/ipv4/ip_forward (of the caller's network namespace). */
  ipForwardFile?: string | undefined;
  log?: Logger | undefined;
}

export interface InstalledNat {
  readonly firewall: FirewallKind;
  /** Deletes our rules and puts ip_forward back; safe to call twice. */
  remove(): Promise<void>;
}

export async function installNat(options: InstallNatOptions): Promise<InstalledNat> {
  const spec = natSpec(options);
  const firewall = options.firewall ?? detectFirewall();
  const runner = options.runner ?? spawnRunner();
  const log = options.log ?? createLogger();
  const plan: NatPlan = firewall === "nft" ? nftPlan(spec) : iptablesPlan(spec);
  await clearLeftovers(plan, runner, log);
  const done: NatStep[] = [];
  try {
    for (const step of plan.steps) {
      await mustRun(runner, step.argv, step.stdin);
      done.push(step);
    }
  } catch (error) {
    await undoSteps(done, runner);
    throw error;
  }
  let forward: { restore(): void };
  try {
    forward = enableIpForward(options.ipForwardFile ?? IP_FORWARD_FILE);
  } catch (error) {
    await undoSteps(done, runner);
    throw error;
  }
  log.info("agent NAT installed", { firewall, pool: spec.pool, outInterface: spec.outInterface, allowCidrs: spec.allowCidrs });
  let removed = false;
  return {
    firewall,
    async remove() {
      if (removed) return;
      removed = true;
      await undoSteps(done, runner);
      forward.restore();
      log.info("agent NAT removed", { firewall });
    },
  };
}

/** Validates the options into canonical CIDR text, so nothing odd reaches a command or script. */
function natSpec(options: InstallNatOptions): NatSpec {
  const pool = ipv4Cidr(options.pool, "pool");
  const allowCidrs = options.allowCidrs?.map((cidr) => ipv4Cidr(cidr, "allowed destination"));
  const out = options.outInterface;
  if (out !== undefined && !/^[A-Za-z0-9_.+-]{1,15}$/.test(out)) {
    throw new CredproxyError(ErrorCode.Usage, `"${out}" is not a network interface name`, {
      hint: "give an interface name such as eth0 or ens5 (up to 15 letters, digits, . _ + -)",
    });
  }
  return { pool, outInterface: out, allowCidrs };
}

function ipv4Cidr(text: string, what: string): string {
  const parsed = parseCidr(text);
  if ("problem" in parsed) throw new CredproxyError(ErrorCode.Usage, `bad ${what} CIDR: ${parsed.problem}`);
  if (parsed.family !== 4) throw new CredproxyError(ErrorCode.Usage, `${what} ${text} is IPv6; the agent NAT handles IPv4 only`);
  return parsed.text;
}

/** A crashed earlier run leaves its chains or table behind; take them away before adding ours. */
async function clearLeftovers(plan: NatPlan, runner: CommandRunner, log: Logger): Promise<void> {
  for (const leftover of plan.leftovers) {
    if ((await runner(leftover.probe)).code !== 0) continue;
    log.warn("removing firewall rules left by an earlier credproxy agent run", { what: leftover.what });
    for (const argv of leftover.clear) await runner(argv);
  }
}

/** Best effort, newest first: one undo failing (or a runner throwing) must not stop the rest. */
async function undoSteps(done: readonly NatStep[], runner: CommandRunner): Promise<void> {
  for (const step of [...done].reverse()) {
    for (const argv of step.undo) await runner(argv).catch(() => undefined);
  }
}

async function mustRun(runner: CommandRunner, argv: readonly string[], stdin?: string): Promise<void> {
  const result = await runner(argv, stdin);
  if (result.code === 0) return;
  throw new CredproxyError(ErrorCode.Platform, `${argv.join(" ")} failed (exit ${result.code}): ${result.stderr.trim().slice(0, 500)}`, {
    hint: "the agent needs root (CAP_NET_ADMIN) and a kernel with netfilter NAT support",
    details: { argv: [...argv], exitCode: result.code },
  });
}
