/**
 * Puts client packets back on the network from `credproxy agent`: IPv4 forwarding on, and
 * MASQUERADE plus FORWARD rules for the client pool, added on start and removed on exit.
 * Only our own chains (iptables) or our own table (nft) are ever touched, so removal is exact.
 */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { parseCidr } from "../net/cidr.ts";
import { spawnRunner, type CommandRunner } from "./command-runner.ts";
import { defaultWhich, detectFirewall, type FirewallKind } from "./detect-firewall.ts";
import { enableIpForward, IP_FORWARD_FILE } from "./ip-forward.ts";
import { enableIpv6Forward, IPV6_CONF_DIR } from "./ipv6-forward.ts";
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
  /** The IPv6 tunnel prefix: NAT66 and IPv6 forwarding too, or a reason why not (the IPv4 part stays). */
  pool6?: string | undefined;
  /** Default: /proc/sys/net/ipv6/conf (of the caller's network namespace). */
  ipv6ConfDir?: string | undefined;
  /** Default: defaultWhich (finds ip6tables for the iptables back end). */
  which?: ((name: string) => string | null) | undefined;
  log?: Logger | undefined;
}

export interface InstalledNat {
  readonly firewall: FirewallKind;
  /** With pool6: why IPv6 is not forwarded, or undefined when it is. */
  readonly ipv6Unavailable?: string | undefined;
  /** Deletes our rules and puts ip_forward back; safe to call twice. */
  remove(): Promise<void>;
}

export async function installNat(options: InstallNatOptions): Promise<InstalledNat> {
  const spec = natSpec(options);
  const firewall = options.firewall ?? detectFirewall();
  const runner = options.runner ?? spawnRunner();
  const log = options.log ?? createLogger();
  const plan: NatPlan = firewall === "nft" ? nftPlan(spec) : iptablesPlan(spec);
  const done = await applyPlan(plan, runner, log);
  let forward: { restore(): void };
  try {
    forward = enableIpForward(options.ipForwardFile ?? IP_FORWARD_FILE);
  } catch (error) {
    await undoSteps(done, runner);
    throw error;
  }
  log.info("agent NAT installed", { firewall, pool: spec.pool, outInterface: spec.outInterface, allowCidrs: spec.allowCidrs });
  const nat6 = options.pool6 === undefined ? undefined : await installNat6(options, options.pool6, firewall, runner, log);
  let removed = false;
  return {
    firewall,
    ipv6Unavailable: nat6 !== undefined && "unavailable" in nat6 ? nat6.unavailable : undefined,
    async remove() {
      if (removed) return;
      removed = true;
      if (nat6 !== undefined && "remove" in nat6) await nat6.remove();
      await undoSteps(done, runner);
      forward.restore();
      log.info("agent NAT removed", { firewall });
    },
  };
}

/**
 * NAT66 for the IPv6 tunnel prefix (nft: a second table; iptables: the same chains in
 * ip6tables) and IPv6 forwarding. A failure takes its own part back and says why, so the
 * agent goes on with IPv4 and tells clients IPv6 is not available.
 */
async function installNat6(options: InstallNatOptions, pool6: string, firewall: FirewallKind, runner: CommandRunner, log: Logger): Promise<{ remove(): Promise<void> } | { unavailable: string }> {
  const spec: NatSpec = { pool: familyCidr(pool6, "IPv6 pool", 6), outInterface: options.outInterface, allowCidrs: allowedOf(options.allowCidrs, 6) };
  if (firewall === "iptables" && !(options.which ?? defaultWhich)("ip6tables")) return { unavailable: "ip6tables is not installed on the instance (the agent's NAT66 needs it beside iptables)" };
  const plan = firewall === "nft" ? nftPlan(spec, "nft", 6) : iptablesPlan(spec, "ip6tables");
  let done: NatStep[] = [];
  try {
    done = await applyPlan(plan, runner, log);
    const forward = enableIpv6Forward(options.ipv6ConfDir ?? IPV6_CONF_DIR);
    log.info("agent NAT66 installed", { firewall, pool6: spec.pool, allowCidrs: spec.allowCidrs });
    return {
      async remove() {
        await undoSteps(done, runner);
        forward.restore();
      },
    };
  } catch (error) {
    await undoSteps(done, runner);
    const why = error instanceof Error ? error.message : String(error);
    log.warn("IPv6 not forwarded: the agent's NAT66 could not be set up", { error: why });
    return { unavailable: `the agent could not set up NAT66: ${why}` };
  }
}

/** Validates the options into canonical CIDR text, so nothing odd reaches a command or script. */
function natSpec(options: InstallNatOptions): NatSpec {
  const pool = familyCidr(options.pool, "pool", 4);
  const allowCidrs = allowedOf(options.allowCidrs, 4);
  const out = options.outInterface;
  if (out !== undefined && !/^[A-Za-z0-9_.+-]{1,15}$/.test(out)) {
    throw new CredproxyError(ErrorCode.Usage, `"${out}" is not a network interface name`, {
      hint: "give an interface name such as eth0 or ens5 (up to 15 letters, digits, . _ + -)",
    });
  }
  return { pool, outInterface: out, allowCidrs };
}

function familyCidr(text: string, what: string, family: 4 | 6): string {
  const parsed = parseCidr(text);
  if ("problem" in parsed) throw new CredproxyError(ErrorCode.Usage, `bad ${what} CIDR: ${parsed.problem}`);
  if (parsed.family !== family) throw new CredproxyError(ErrorCode.Usage, `${what} ${text} is not IPv${family}`);
  return parsed.text;
}

/** The allowed destinations of one family (every one checked); undefined stays "everywhere". */
function allowedOf(allowCidrs: readonly string[] | undefined, family: 4 | 6): string[] | undefined {
  if (allowCidrs === undefined) return undefined;
  return allowCidrs.flatMap((text) => {
    const parsed = parseCidr(text);
    if ("problem" in parsed) throw new CredproxyError(ErrorCode.Usage, `bad allowed destination CIDR: ${parsed.problem}`);
    return parsed.family === family ? [parsed.text] : [];
  });
}

/** Clears leftovers, then runs every step; a failing one takes back those before it and throws. */
async function applyPlan(plan: NatPlan, runner: CommandRunner, log: Logger): Promise<NatStep[]> {
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
  return done;
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
