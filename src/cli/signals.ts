/**
 * How credproxy's long-running commands (serve, broker serve, broker imds) meet signals.
 *
 * STOP_SIGNALS are every signal whose default action ends the process and that Bun lets a
 * program catch (measured on Bun 1.4.5, compiled): each one stops the command cleanly, as
 * SIGTERM does, so that loopback addresses, sockets and state files are removed. SIGHUP stops
 * too: a closed terminal must not leave a server running blind, and serve already rescans its
 * dynamic directory by itself (file watch + periodic rescan), so a reload would add nothing.
 *
 * Not in the list, on purpose:
 * - SIGPIPE and SIGXFSZ: Bun ignores them (a write then fails with EPIPE/EFBIG), right for a server.
 * - SIGPWR: Bun's runtime uses it internally and swallows it; it never ends the process.
 * - SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS: crashes, left to Bun's crash
 *   handler (resuming JavaScript after a synchronous fault is unsafe; a JS handler for a real
 *   trap would spin on the faulting instruction).
 * - SIGSTKFLT and the real-time signals: Bun 1.4.5 cannot catch them.
 * - SIGKILL: nobody can.
 * What these leave behind (a loopback address) is recorded in a state file, which the next run
 * or `credproxy cleanup` uses to remove it (src/net/loopback-state.ts).
 */
import { constants } from "node:os";

export const STOP_SIGNALS = [
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGVTALRM",
  "SIGPROF",
  "SIGXCPU",
  "SIGIO",
] as const satisfies readonly NodeJS.Signals[];

/**
 * Resolves with the first of STOP_SIGNALS. Long-running commands install this before they
 * start anything: as PID 1 in a container a process gets no default signal handling, so these
 * handlers are what makes it stop. A second signal while stopping exits at once (process
 * "exit" hooks, which remove loopback addresses, still run).
 */
export function firstSignal(options: { except?: readonly NodeJS.Signals[] } = {}): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (received) process.exit(0);
      received = true;
      resolve(signal);
    };
    for (const signal of STOP_SIGNALS) if (!options.except?.includes(signal)) process.on(signal, handler);
  });
}

/**
 * Until the returned function is called, a STOP_SIGNAL that no other handler takes ends the
 * process with 128 + its number, running the process "exit" hooks (which remove loopback
 * addresses) instead of dying with the default action. For `broker exec --imds` around its
 * child: while the child runs, runExec's forwarding handlers take the signals.
 */
export function exitOnUnhandledStopSignal(): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    if (process.listenerCount(signal) > 1) return; // someone else (the forwarder) handles it
    process.exit(128 + (constants.signals[signal] ?? 0));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, handler);
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, handler);
  };
}
