/**
 * The agent's part of nat-forward.test.ts, run inside the agent namespace: installNat() with
 * the real iptables, "installed" on stdout, then remove() once stdin closes and "removed".
 */
import { installNat } from "../../src/agent/nat-rules.ts";
import { createLogger } from "../../src/log.ts";

const [pool, outInterface, allow] = process.argv.slice(2);
const nat = await installNat({ pool: pool!, outInterface, allowCidrs: [allow!], firewall: "iptables", log: createLogger({ level: "warn" }) });
console.log("installed");
for await (const _ of Bun.stdin.stream()) {
  // wait for the test to close stdin
}
await nat.remove();
console.log("removed");
