/**
 * Two network namespaces joined by a veth pair, for tests about peers from elsewhere: A gets
 * 192.0.2.1/24, B gets 192.0.2.2/24 (TEST-NET-1, never routed) and a route to 169.254.170.2
 * through A. `remove()` deletes both (and so the pair). `why` says what failed when `ok` is false.
 */
export interface NamespacePair {
  readonly a: string;
  readonly b: string;
  readonly ok: boolean;
  readonly why: string;
  remove(): void;
}

export const ADDRESS_A = "192.0.2.1";
export const ADDRESS_B = "192.0.2.2";

export function createNamespacePair(tag: string): NamespacePair {
  const a = `cp-${tag}a-${process.pid}`;
  const b = `cp-${tag}b-${process.pid}`;
  const veth = `cp${tag.slice(0, 4)}${process.pid % 10000}`;
  const steps = [
    ["ip", "netns", "add", a],
    ["ip", "netns", "add", b],
    ["ip", "-n", a, "link", "set", "lo", "up"],
    ["ip", "-n", b, "link", "set", "lo", "up"],
    ["ip", "-n", a, "link", "add", `${veth}a`, "type", "veth", "peer", "name", `${veth}b`, "netns", b],
    ["ip", "-n", a, "addr", "add", `${ADDRESS_A}/24`, "dev", `${veth}a`],
    ["ip", "-n", b, "addr", "add", `${ADDRESS_B}/24`, "dev", `${veth}b`],
    ["ip", "-n", a, "link", "set", `${veth}a`, "up"],
    ["ip", "-n", b, "link", "set", `${veth}b`, "up"],
    ["ip", "-n", b, "route", "add", "169.254.170.2/32", "via", ADDRESS_A],
  ];
  let why = "";
  for (const step of steps) {
    const r = Bun.spawnSync(step);
    if (r.exitCode !== 0) {
      why = `${step.join(" ")}: ${r.stderr.toString().trim()}`;
      break;
    }
  }
  return {
    a,
    b,
    ok: why === "",
    why,
    remove() {
      Bun.spawnSync(["ip", "netns", "del", a]);
      Bun.spawnSync(["ip", "netns", "del", b]);
    },
  };
}

/** Runs `command` in namespace `ns` (undefined: this one) and returns its output. */
export async function runIn(ns: string | undefined, command: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([...(ns ? ["ip", "netns", "exec", ns] : []), ...command], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: out.trim(), err: err.slice(-1500) };
}

/** GET `url` from namespace `ns` with a fresh bun process: its status and body (status -1: it failed). */
export async function fetchIn(ns: string | undefined, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const script = `const r = await fetch(${JSON.stringify(url)}, { headers: ${JSON.stringify(headers)} });
    console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const run = await runIn(ns, [process.execPath, "-e", script]);
  return run.code === 0 ? (JSON.parse(run.out) as { status: number; body: string }) : { status: -1, body: run.err };
}
