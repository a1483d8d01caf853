/**
 * sshuttle in the tunnel benchmark's namespaces, as the tool people use today: a private sshd
 * ONLY inside the instance namespace (config, host key and authorized_keys in a temp dir; it
 * never reads /etc/ssh and the host's sshd is not involved), and sshuttle in the client
 * namespace for the VPC CIDR. Its own NAT rules live in the client namespace, which the
 * benchmark deletes.
 *
 * sshd wants its privilege separation directory /run/sshd; rather than create it on the host,
 * it runs in a mount namespace of its own with a fresh tmpfs on /run (unshare -m makes the
 * mounts private, so nothing shows outside).
 *
 * Paced: ssh goes through bench/paced-relay.ts (the SSM agent's 1024-byte reads with a 1 ms
 * pause toward the client), which is how sshuttle over Session Manager (ssh through
 * AWS-StartSSHSession) is paced. Unpaced: straight to sshd.
 */
import { join } from "node:path";
import type { CredproxyProcess } from "../test/helpers/binary.ts";
import { tempDir } from "../test/helpers/cleanup.ts";
import { INSTANCE_ADDRESS, spawnInNamespace, VPC_CIDR, type TunnelTopology } from "../test/helpers/tunnel-topology.ts";

const SSHD_LOCAL_PORT = 2222;
const SSHD_PORT = 2222;
const RELAY_PORT = 2223;

export interface SshSide {
  /** sshd (and the relay) in the instance namespace. */
  readonly processes: CredproxyProcess[];
  readonly clientKey: string;
}

function run(command: string[]): void {
  const r = Bun.spawnSync(command, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${command.join(" ")}: ${r.stderr.toString().trim()}`);
}

/** Starts the private sshd and the paced relay in front of it. */
export async function startSshSide(topology: TunnelTopology): Promise<SshSide> {
  // sshuttle's nat OUTPUT rule only sees connections that have a route; the client namespace has
  // none to the VPC range, so give it one toward the instance (it goes with the namespace).
  run(["ip", "-n", topology.client, "route", "add", VPC_CIDR, "via", INSTANCE_ADDRESS]);
  const dir = await tempDir("credproxy-bench-ssh-");
  const hostKey = join(dir, "host_key");
  const clientKey = join(dir, "client_key");
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", clientKey]);
  await Bun.write(join(dir, "authorized_keys"), await Bun.file(`${clientKey}.pub`).text());
  const config = join(dir, "sshd_config");
  await Bun.write(
    config,
    [
      `ListenAddress ${INSTANCE_ADDRESS}:${SSHD_PORT}`,
      `ListenAddress 127.0.0.1:${SSHD_LOCAL_PORT}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "PidFile none",
      "",
    ].join("\n"),
  );
  const sshdScript = `mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f ${config}`;
  const sshd = spawnInNamespace(topology.instance, ["unshare", "-m", "--propagation", "private", "sh", "-c", sshdScript]);
  await sshd.waitForLine(/Server listening on 127\.0\.0\.1 port/, 10_000, "stderr");
  const relay = spawnInNamespace(topology.instance, [process.execPath, join(import.meta.dir, "paced-relay.ts"), "--listen", `${INSTANCE_ADDRESS}:${RELAY_PORT}`, "--target", `127.0.0.1:${SSHD_LOCAL_PORT}`]);
  await relay.waitForLine(/^paced relay listening on /, 10_000, "stdout");
  return { processes: [sshd, relay], clientKey };
}

/** sshuttle in the client namespace for the VPC CIDR, through the relay when `paced`; resolves once it is connected. */
export async function startSshuttle(topology: TunnelTopology, side: SshSide, paced: boolean): Promise<CredproxyProcess> {
  const port = paced ? RELAY_PORT : SSHD_PORT;
  const ssh = `ssh -F /dev/null -i ${side.clientKey} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
  const sshuttle = spawnInNamespace(topology.client, ["sshuttle", "-r", `root@${INSTANCE_ADDRESS}:${port}`, "-e", ssh, VPC_CIDR]);
  await sshuttle.waitForLine(/Connected to server/, 30_000, "stderr");
  return sshuttle;
}
