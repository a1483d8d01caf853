import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const SIGNALS = join(import.meta.dir, "signals.ts");

/** Runs `body` in a fresh bun process (these handlers end processes) and returns what it did. */
async function inChild(body: string): Promise<{ code: number | null; out: string }> {
  const script = `import { exitOnUnhandledStopSignal, firstSignal } from ${JSON.stringify(SIGNALS)};\nprocess.on("exit", (c) => console.log("exit hook " + c));\n${body}`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  return { code: proc.exitCode, out: out.trim() };
}

describe("signals", () => {
  test("firstSignal resolves with SIGHUP, so a closed terminal stops the command cleanly", async () => {
    const r = await inChild(`const s = firstSignal(); process.kill(process.pid, "SIGHUP"); console.log("got " + (await s));`);
    expect(r).toEqual({ code: 0, out: "got SIGHUP\nexit hook 0" });
  });

  test("exitOnUnhandledStopSignal ends the process with 128 + N through the exit hooks", async () => {
    const r = await inChild(`exitOnUnhandledStopSignal(); process.kill(process.pid, "SIGALRM"); setTimeout(() => console.log("not ended"), 5000);`);
    expect(r).toEqual({ code: 128 + 14, out: "exit hook 142" });
  });

  test("exitOnUnhandledStopSignal leaves a signal another handler takes (the exec forwarder) to it, and is removable", async () => {
    const r = await inChild(
      `const release = exitOnUnhandledStopSignal();
       process.once("SIGUSR1", () => {
         console.log("forwarded");
         release();
         process.kill(process.pid, "SIGUSR2"); // no handler left: the default action ends it
       });
       process.kill(process.pid, "SIGUSR1");
       setTimeout(() => console.log("not ended"), 5000);`,
    );
    expect(r).toEqual({ code: null, out: "forwarded" });
  });
});
