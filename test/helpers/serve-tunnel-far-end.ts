/**
 * The far end of `credproxy tunnel` tests as one process, for the instance namespace: the
 * framing peer (framing-peer.ts, where the fake SSM agent dials) on 127.0.0.1, and the fake
 * EC2 API (fake-ec2.ts) on --host, with the instances named:
 *
 *   bun test/helpers/serve-tunnel-far-end.ts --host 198.51.100.2 --instance i-…[=Name] ...
 *
 * Prints `far end: peer 127.0.0.1:PORT ec2 http://HOST:PORT` when ready; stops on SIGTERM.
 */
import { parseArgs } from "node:util";
import { startFakeEc2 } from "./fake-ec2.ts";
import { startFramingPeer } from "./framing-peer.ts";

const { values } = parseArgs({ options: { host: { type: "string", default: "127.0.0.1" }, instance: { type: "string", multiple: true, default: [] } } });
const peer = await startFramingPeer();
const ec2 = startFakeEc2(
  values.instance!.map((spec) => {
    const [id, name] = spec.split("=");
    return { id: id!, ...(name ? { tags: { Name: name } } : {}) };
  }),
  { hostname: values.host! },
);
console.log(`far end: peer 127.0.0.1:${peer.port} ec2 ${ec2.url}`);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    ec2.stop();
    void peer.close().finally(() => process.exit(0));
  });
}
