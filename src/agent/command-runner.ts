/**
 * How the agent runs firewall tools: argv only (never a shell, so a CIDR or interface name can
 * never become a command), optional stdin (for `nft -f -`), and a timeout so a wedged
 * iptables lock cannot hang the agent's start or exit. Tests inject a fake runner.
 */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type CommandRunner = (argv: readonly string[], stdin?: string) => Promise<CommandResult>;

export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

/**
 * A runner that spawns the real binaries; a command past `timeoutMs` is killed and reports
 * code -1, and one that cannot be started at all (no such binary) reports code 127 like a shell.
 */
export function spawnRunner(timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): CommandRunner {
  return async (argv, stdin) => {
    let proc: Bun.Subprocess<"pipe" | "ignore", "pipe", "pipe">;
    try {
      proc = Bun.spawn([...argv], { stdin: stdin === undefined ? "ignore" : "pipe", stdout: "pipe", stderr: "pipe" });
    } catch (error) {
      return { code: 127, stdout: "", stderr: `cannot run ${argv[0]}: ${(error as Error).message}` };
    }
    if (stdin !== undefined && proc.stdin && typeof proc.stdin !== "number") {
      proc.stdin.write(stdin);
      await proc.stdin.end();
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill("SIGKILL");
    }, timeoutMs);
    try {
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (timedOut) return { code: -1, stdout, stderr: `timed out after ${timeoutMs} ms` };
      return { code, stdout, stderr };
    } finally {
      clearTimeout(timer);
    }
  };
}
