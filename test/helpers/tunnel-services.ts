/**
 * Everything a traffic test of `credproxy tunnel` needs besides the client, started in the
 * namespaces of a tunnel topology: the vpc services (tunnel-hosts/), the compiled agent and the
 * fake EC2 in the instance namespace, and the fake SSM service whose Port plugin dials the
 * agent with the real agent's pacing. Used by tunnel-stripes.test.ts and the tunnel benchmark.
 */
import { join } from "node:path";
import { credproxyBinary, tempDir, type CredproxyProcess } from "./binary.ts";
import { FakeSsmControl } from "./fake-ssm/fake-control-client.ts";
import { tunnelClientEnv } from "./tunnel-client-env.ts";
import { INSTANCE_ADDRESS, spawnInNamespace, VPC_HOST, type TunnelTopology } from "./tunnel-topology.ts";

const HELPERS = import.meta.dir;

export interface TunnelServices {
  readonly agent: CredproxyProcess;
  readonly agentPort: number;
  readonly control: FakeSsmControl;
  /** The client's environment (tunnelClientEnv) with state under `runtimeDir`. */
  readonly env: Record<string, string>;
  readonly runtimeDir: string;
}

export async function startTunnelServices(topology: TunnelTopology, instanceId: string, agentArgs: readonly string[] = []): Promise<TunnelServices> {
  const vpc = spawnInNamespace(topology.vpc, [process.execPath, join(HELPERS, "tunnel-hosts/vpc-services.ts"), "--answer", VPC_HOST]);
  await vpc.waitForLine(/^vpc services ready$/, 10_000, "stdout");
  const agent = spawnInNamespace(topology.instance, [credproxyBinary(), "agent", "--listen", "127.0.0.1:0", ...agentArgs]);
  const [, port] = await agent.waitForLine(/^agent: listening on 127\.0\.0\.1:(\d+), /, 15_000, "stdout");
  const farEnd = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "serve-tunnel-far-end.ts"), "--host", INSTANCE_ADDRESS, "--instance", `${instanceId}=bastion`]);
  const [, , ec2] = await farEnd.waitForLine(/^far end: peer (\S+) ec2 (\S+)$/, 10_000, "stdout");
  const fake = spawnInNamespace(topology.instance, [process.execPath, join(HELPERS, "fake-ssm/serve-fake-ssm.ts"), "--host", INSTANCE_ADDRESS, "--target", `127.0.0.1:${port}`, "--instance", instanceId]);
  const [, apiUrl] = await fake.waitForLine(/^fake-ssm listening on (\S+)$/, 10_000, "stdout");
  const runtimeDir = await tempDir("credproxy-tunnel-rt-");
  return { agent, agentPort: Number(port), control: new FakeSsmControl(apiUrl!, topology.instance), env: tunnelClientEnv({ ssm: apiUrl!, ec2: ec2! }, runtimeDir), runtimeDir };
}
