/** Which recorded tunnel `tunnel down` / `status` mean: the one named, or the only one. */
import { CredproxyError, ErrorCode } from "../errors.ts";
import { findTunnels, tunnelsDirectory, type FoundTunnel } from "../tunnel/tunnel-state.ts";

/** For a user other than root: where root's tunnels are recorded. */
const ROOT_HINT = (): string => (process.getuid?.() === 0 || process.env.CREDPROXY_RUNTIME_DIR ? "" : `; tunnels started as root are recorded in ${process.platform === "darwin" ? "/var/run/credproxy" : "/run/credproxy"}: run this with sudo`);

export function tunnelsHere(): { dir: string | undefined; tunnels: FoundTunnel[] } {
  const dir = tunnelsDirectory();
  return { dir, tunnels: findTunnels(dir) };
}

export function pickTunnel(command: string, tunnels: readonly FoundTunnel[], name: string | undefined, dir: string | undefined): FoundTunnel {
  if (name !== undefined) {
    const found = tunnels.find((t) => t.record.name === name);
    if (found !== undefined) return found;
    throw new CredproxyError(ErrorCode.Usage, `${command}: no tunnel named ${name}${dir === undefined ? "" : ` in ${dir}`}`, {
      hint: tunnels.length === 0 ? `no tunnel is up here${ROOT_HINT()}` : `tunnels here: ${tunnels.map((t) => t.record.name).join(", ")}`,
    });
  }
  if (tunnels.length === 1) return tunnels[0]!;
  if (tunnels.length === 0) {
    throw new CredproxyError(ErrorCode.Usage, `${command}: no tunnel is up${dir === undefined ? "" : ` (nothing in ${dir})`}`, {
      hint: `start one with credproxy tunnel up${ROOT_HINT()}`,
    });
  }
  throw new CredproxyError(ErrorCode.Usage, `${command}: ${tunnels.length} tunnels are up; name one: ${tunnels.map((t) => t.record.name).join(", ")}`, {
    hint: `e.g. credproxy ${command} ${tunnels[0]!.record.name}`,
  });
}
