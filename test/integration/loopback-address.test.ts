/**
 * addLoopbackAliases() against the real kernel, through bun:ffi and rtnetlink, each test in a
 * network namespace of its own (`unshare --net`) that dies with the child. The 169.254.x and
 * fd00:ec2:: addresses, the port-80 listeners and the fetches exist only inside those
 * namespaces; the child script refuses to run if it sees any interface but `lo`, so nothing
 * here can touch the host's network.
 *
 * Needs Linux and either root or unprivileged user namespaces. Where the kernel refuses
 * namespaces the tests are skipped with a warning; with CI set, that is a failure instead.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { cleanupAll, killChild, orphanGuard, tempDirSync, trackChild } from "../helpers/cleanup.ts";

afterAll(cleanupAll);

const REPO = resolve(import.meta.dir, "../..");
const ECS = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"];
const HINT =
  "run with CAP_NET_ADMIN (docker run --cap-add NET_ADMIN --cap-add SETUID --cap-add SETGID --user 0, or in compose cap_add: [NET_ADMIN, SETUID, SETGID] with user: \"0:0\"; Docker does not pass added capabilities to other users, and serve needs SETUID/SETGID to become server.user after binding), or drop server.ecs_metadata and point AWS_CONTAINER_CREDENTIALS_FULL_URI at http://127.0.0.1:<port>/v1/credentials";

/** What the child prints as its last line. */
interface ChildReport {
  refused?: string[];
  before: string[];
  aliases?: { address: string; prefixLength: number; added: boolean }[];
  during?: string[];
  served?: Record<string, string>;
  after?: string[];
  firstAddUs?: number;
  removeUs?: number;
  bench?: { runs: number; addMedianUs: number; addMinUs: number; removeMedianUs: number };
  error?: { name: string; code?: string; message: string; hint?: string };
}

// The child: runs inside the namespace, as root or without capabilities.
const CHILD = `
import { addLoopbackAliases } from ${JSON.stringify(join(REPO, "src/net/loopback-address.ts"))};
const request = JSON.parse(process.env.LOOPBACK_TEST_REQUEST ?? "{}");
const ip = (...args) => JSON.parse(Bun.spawnSync(["ip", "-j", ...args]).stdout.toString() || "[]");
const onLo = () => (ip("addr", "show", "lo")[0]?.addr_info ?? []).map((a) => a.local + "/" + a.prefixlen);
const report = { before: onLo() };
const links = ip("link", "show").map((l) => l.ifname);
if (links.join(",") !== "lo") {
  console.log(JSON.stringify({ refused: links, before: [] }));
  process.exit(3);
}
try {
  let t = performance.now();
  const { aliases, remove } = await addLoopbackAliases(request.addresses);
  report.firstAddUs = Math.round((performance.now() - t) * 1000);
  report.aliases = aliases;
  report.during = onLo();
  report.served = {};
  for (const { address } of aliases) {
    const server = Bun.serve({ hostname: address, port: 80, fetch: () => new Response("served on " + address) });
    try {
      const host = address.includes(":") ? "[" + address + "]" : address;
      report.served[address] = await (await fetch("http://" + host + "/")).text();
    } finally {
      server.stop(true);
    }
  }
  t = performance.now();
  remove();
  report.removeUs = Math.round((performance.now() - t) * 1000);
  remove(); // idempotent
  report.after = onLo();
  if (request.bench) {
    const adds = [], removes = [];
    for (let i = 0; i < request.bench; i++) {
      let t0 = performance.now();
      const added = await addLoopbackAliases(request.addresses);
      adds.push((performance.now() - t0) * 1000);
      t0 = performance.now();
      added.remove();
      removes.push((performance.now() - t0) * 1000);
    }
    const median = (xs) => Math.round(xs.sort((a, b) => a - b)[xs.length >> 1]);
    report.bench = { runs: request.bench, addMedianUs: median(adds), addMinUs: Math.round(Math.min(...adds)), removeMedianUs: median(removes) };
  }
} catch (error) {
  report.error = { name: error.name, code: error.code, message: error.message, hint: error.hint };
  report.after = onLo();
}
console.log(JSON.stringify(report));
`;

type Mode = { kind: "root" | "userns"; unshare: string[] } | { kind: "unavailable"; why: string };

function probeNamespaces(): Mode {
  if (process.platform !== "linux") return { kind: "unavailable", why: `network namespaces are Linux-only (platform ${process.platform})` };
  for (const tool of ["unshare", "setpriv", "ip"]) {
    if (!Bun.which(tool)) return { kind: "unavailable", why: `${tool} is not installed` };
  }
  // As root, a plain network namespace; otherwise one owned by a user namespace we map to uid 0.
  const tries: Mode[] = [
    { kind: "root", unshare: ["unshare", "--net"] },
    { kind: "userns", unshare: ["unshare", "--user", "--map-root-user", "--net"] },
  ];
  const reasons: string[] = [];
  for (const mode of tries) {
    if (mode.kind === "unavailable") continue;
    const probe = Bun.spawnSync([...mode.unshare, "--", "ip", "link", "set", "lo", "up"], { stderr: "pipe" });
    if (probe.exitCode === 0) return mode;
    reasons.push(`${mode.unshare.join(" ")}: ${probe.stderr.toString().trim()}`);
  }
  return { kind: "unavailable", why: `the kernel refused a network namespace (${reasons.join("; ")})` };
}

const mode = probeNamespaces();
const workDir = mode.kind === "unavailable" ? "" : childDir();

let compiled: string | undefined;
/** The child as a `bun build --compile` executable in the work directory, built once. */
function compiledChild(): string {
  if (compiled) return compiled;
  const outfile = join(workDir, "loopback-probe");
  const build = Bun.spawnSync([process.execPath, "build", "--compile", join(workDir, "child.ts"), "--outfile", outfile], { stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`cannot compile the namespace child: ${build.stderr.toString()}`);
  chmodSync(outfile, 0o755);
  return (compiled = outfile);
}

function childDir(): string {
  // Readable by uid 65534 too, for the run without privileges.
  const dir = tempDirSync("credproxy-netns-");
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "child.ts"), CHILD, { mode: 0o644 });
  return dir;
}

/**
 * Runs the child in a fresh network namespace: lo up, then `setup` shell lines, then the
 * child, optionally without any capability (as uid 65534 when we are real root).
 */
async function runInNamespace(options: { addresses: string[]; setup?: string[]; unprivileged?: boolean; bench?: number; entry?: string[] }): Promise<ChildReport> {
  if (mode.kind === "unavailable") throw new Error(mode.why);
  const dropAll = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"];
  const drop = !options.unprivileged
    ? []
    : mode.kind === "root"
      ? [...dropAll, "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]
      : [...dropAll, "--"]; // only uid 0 is mapped in our user namespace: stay 0 with no capabilities
  const script = ["set -e", "ip link set lo up", ...(options.setup ?? []), 'exec "$@"'].join("\n");
  const entry = options.entry ?? [process.execPath, join(workDir, "child.ts")];
  const proc = Bun.spawn(orphanGuard([...mode.unshare, "--", "sh", "-c", script, "sh", ...drop, ...entry]), {
    cwd: workDir,
    env: {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: workDir,
      LOOPBACK_TEST_REQUEST: JSON.stringify({ addresses: options.addresses, bench: options.bench ?? 0 }),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  trackChild(proc);
  const timer = setTimeout(() => void killChild(proc, "SIGKILL"), 30_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const last = stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as ChildReport;
  } catch {
    throw new Error(`child printed no report (exit ${proc.exitCode}):\n${stdout}\n${stderr}`);
  }
}

const ECS_WITH_PREFIX = ["169.254.170.2/32", "169.254.170.23/32", "fd00:ec2::23/128"];

if (mode.kind === "unavailable") {
  console.warn(`SKIPPED test/integration/loopback-address.test.ts: ${mode.why}`);
  if (process.env.CI && process.platform === "linux") {
    test("network namespaces are available (required when CI is set)", () => {
      throw new Error(`cannot run the loopback-address integration tests: ${mode.why}`);
    });
  }
}

describe.skipIf(mode.kind === "unavailable")("addLoopbackAliases() in a network namespace", () => {
  test("adds the ECS addresses to lo, serves port 80 on each, and remove() takes them all away", async () => {
    const report = await runInNamespace({ addresses: ECS, bench: 200 });
    if (report.error) console.log("child report:", JSON.stringify(report));
    expect(report.error).toBeUndefined();
    expect(report.before).toEqual(["127.0.0.1/8", "::1/128"]);
    expect(report.aliases).toEqual([
      { address: "169.254.170.2", prefixLength: 32, added: true },
      { address: "169.254.170.23", prefixLength: 32, added: true },
      { address: "fd00:ec2::23", prefixLength: 128, added: true },
    ]);
    expect(report.during).toEqual(expect.arrayContaining(ECS_WITH_PREFIX));
    expect(report.served).toEqual(Object.fromEntries(ECS.map((a) => [a, `served on ${a}`])));
    expect(report.after).toEqual(["127.0.0.1/8", "::1/128"]);
    const b = report.bench!;
    console.log(
      `adding 3 loopback aliases: first call ${report.firstAddUs} µs (incl. dlopen), then median ${b.addMedianUs} µs, ` +
        `min ${b.addMinUs} µs over ${b.runs} runs; removing them: first ${report.removeUs} µs, median ${b.removeMedianUs} µs`,
    );
  });

  test("leaves an address that was already present (ip addr add) in place", async () => {
    const report = await runInNamespace({ addresses: ECS, setup: ["ip addr add 169.254.170.2/32 dev lo"] });
    expect(report.error).toBeUndefined();
    expect(report.aliases?.map((a) => [a.address, a.added])).toEqual([
      ["169.254.170.2", false],
      ["169.254.170.23", true],
      ["fd00:ec2::23", true],
    ]);
    expect(report.served?.["169.254.170.2"]).toBe("served on 169.254.170.2");
    expect(report.after).toContain("169.254.170.2/32");
    expect(report.after).not.toContain("169.254.170.23/32");
    expect(report.after).not.toContain("fd00:ec2::23/128");
  });

  test("without CAP_NET_ADMIN fails with E_PLATFORM, the address and the hint, and changes nothing", async () => {
    // uid 65534 may not reach the repository (a clone under /root or mktemp -d is 0700), so it
    // runs the child compiled into the world-readable work directory.
    const report = await runInNamespace({ addresses: ECS, entry: [compiledChild()], unprivileged: true });
    expect(report.error).toEqual({
      name: "CredproxyError",
      code: "E_PLATFORM",
      message: "Cannot add 169.254.170.2/32 to the loopback interface lo as credproxy lacks CAP_NET_ADMIN: the kernel answered EPERM",
      hint: HINT,
    });
    expect(report.after).toEqual(report.before);
  });

  test("with IPv6 disabled on lo explains the sysctl, and rolls back the IPv4 addresses", async () => {
    const report = await runInNamespace({ addresses: ECS, setup: ["echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6"] });
    expect(report.error?.code).toBe("E_PLATFORM");
    expect(report.error?.message).toBe(
      "Cannot add fd00:ec2::23/128 to the loopback interface lo as IPv6 is disabled on it: net.ipv6.conf.lo.disable_ipv6 is 1",
    );
    expect(report.after).toEqual(report.before);
  });

  test("works the same in a `bun build --compile` binary", async () => {
    const outfile = compiledChild();
    const report = await runInNamespace({ addresses: ECS, entry: [outfile] });
    expect(report.error).toBeUndefined();
    expect(report.during).toEqual(expect.arrayContaining(ECS_WITH_PREFIX));
    expect(Object.keys(report.served ?? {})).toEqual(ECS);
    expect(report.after).toEqual(["127.0.0.1/8", "::1/128"]);
    const denied = await runInNamespace({ addresses: ECS, entry: [outfile], unprivileged: true });
    expect(denied.error?.code).toBe("E_PLATFORM");
    expect(denied.error?.hint).toBe(HINT);
  });
});
