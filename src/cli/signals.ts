/**
 * Resolves with the first SIGTERM/SIGINT. Long-running commands install this before they start
 * anything: as PID 1 in a container a process gets no default signal handling, so these
 * handlers are what makes it stop. A second signal while stopping exits at once.
 */
export function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (received) process.exit(0);
      received = true;
      resolve(signal);
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  });
}
