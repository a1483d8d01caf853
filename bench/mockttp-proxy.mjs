/**
 * mockttp as an HTTPS-intercepting forward proxy for bench/proxy.bench.ts: every request is
 * passed through to its origin with an Authorization header set, the origin's CA trusted.
 * mockttp is not a dependency of credproxy; the bench installs it into .bench/mockttp.
 *
 *   node|bun bench/mockttp-proxy.mjs MOCKTTP_DIR ORIGIN_CA_FILE VALUE
 *
 * Prints "listening on http://127.0.0.1:PORT" once the proxy accepts connections.
 */
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const [dir, originCa, value] = process.argv.slice(2);
const require = createRequire(join(resolve(dir), "node_modules", "mockttp", "package.json"));
const mockttp = require("mockttp");

const ca = await mockttp.generateCACertificate();
const server = mockttp.getLocal({ https: { key: ca.key, cert: ca.cert }, recordTraffic: false, suggestChanges: false });
await server.forAnyRequest().thenPassThrough({
  transformRequest: { updateHeaders: { authorization: value } },
  additionalTrustedCAs: [{ certPath: originCa }],
});
await server.start({ startPort: 20000, endPort: 60000 });
console.log(`listening on http://127.0.0.1:${server.port}`);
process.on("SIGTERM", () => server.stop().then(() => process.exit(0)));
