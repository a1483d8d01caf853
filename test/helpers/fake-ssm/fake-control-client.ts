/**
 * The test side of fake-control.ts. The fake may listen inside a network namespace the test
 * process cannot reach, so with `namespace` set each call is a curl run inside that namespace;
 * without it, a plain fetch (the fake on this namespace's loopback).
 */
import type { SessionSnapshot } from "./fake-control.ts";
import type { FaultSwitches } from "./fault-switches.ts";

export type FaultPatch = Partial<Omit<FaultSwitches, "toClient" | "fromClient" | "withholdAcksUntil">> & {
  toClient?: Partial<FaultSwitches["toClient"]>;
  fromClient?: Partial<FaultSwitches["fromClient"]>;
};

export class FakeSsmControl {
  constructor(
    /** The fake's API URL, http://HOST:PORT. */
    readonly apiUrl: string,
    readonly namespace?: string,
  ) {}

  sessions(): Promise<SessionSnapshot[]> {
    return this.call("GET", "sessions") as Promise<SessionSnapshot[]>;
  }

  /** The one session there is (throws when there are none or several). */
  async onlySession(): Promise<SessionSnapshot> {
    const all = await this.sessions();
    if (all.length !== 1) throw new Error(`expected one fake SSM session, found ${all.length}: ${all.map((s) => s.id).join(", ")}`);
    return all[0]!;
  }

  setFaults(patch: FaultPatch): Promise<FaultSwitches> {
    return this.call("POST", "faults", patch) as Promise<FaultSwitches>;
  }

  resetFaults(): Promise<FaultSwitches> {
    return this.call("POST", "faults/reset", {}) as Promise<FaultSwitches>;
  }

  withholdAcks(ms: number): Promise<unknown> {
    return this.call("POST", "withhold-acks", { ms });
  }

  bye(sessionId: string): Promise<SessionSnapshot> {
    return this.call("POST", `bye/${sessionId}`, {}) as Promise<SessionSnapshot>;
  }

  pause(sessionId: string): Promise<SessionSnapshot> {
    return this.call("POST", `pause/${sessionId}`, {}) as Promise<SessionSnapshot>;
  }

  start(sessionId: string): Promise<SessionSnapshot> {
    return this.call("POST", `start/${sessionId}`, {}) as Promise<SessionSnapshot>;
  }

  terminate(sessionId: string): Promise<SessionSnapshot> {
    return this.call("POST", `terminate/${sessionId}`, {}) as Promise<SessionSnapshot>;
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = `${this.apiUrl}/_fake/${path}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const { status, answer } = this.namespace === undefined ? await viaFetch(method, url, text) : await viaCurl(this.namespace, method, url, text);
    if (status !== 200) throw new Error(`fake control ${method} ${path}: ${status} ${answer.trim()}`);
    return answer.startsWith("[") || answer.startsWith("{") ? JSON.parse(answer) : answer;
  }
}

async function viaFetch(method: string, url: string, body: string | undefined): Promise<{ status: number; answer: string }> {
  const response = await fetch(url, { method, ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }) });
  return { status: response.status, answer: await response.text() };
}

async function viaCurl(ns: string, method: string, url: string, body: string | undefined): Promise<{ status: number; answer: string }> {
  const args = ["ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "10", "-X", method, "-w", "\n%{http_code}", ...(body === undefined ? [] : ["-H", "content-type: application/json", "--data-binary", body]), url];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`curl ${method} ${url} in ${ns}: exit ${code}: ${err.trim()}`);
  const at = out.lastIndexOf("\n");
  return { status: Number(out.slice(at + 1)), answer: out.slice(0, at) };
}
