// A Node 20 HTTPS client behind a forward proxy, with no dependencies: Node 20 ignores
// HTTPS_PROXY, so this is what an app does by hand. It opens the tunnel with http.request
// (method CONNECT) to $HTTPS_PROXY, then sends https.request over TLS on that socket. Trust
// is Node's default store plus $NODE_EXTRA_CA_CERTS (read by node at startup): no `ca` here.
// Usage: node node-https-via-connect.mjs https://host:port/path  → prints {status, body}.
import http from "node:http";
import https from "node:https";
import tls from "node:tls";

const target = new URL(process.argv[2]);
const proxy = new URL(process.env.HTTPS_PROXY);
const authority = `${target.hostname}:${target.port || 443}`;

const tunnel = http.request({ host: proxy.hostname, port: proxy.port, method: "CONNECT", path: authority, headers: { host: authority } });
tunnel.on("connect", (res, socket) => {
  if (res.statusCode !== 200) throw new Error(`CONNECT answered ${res.statusCode}`);
  const req = https.request(target, {
    headers: { authorization: "Bearer sandbox-chosen" },
    createConnection: () => tls.connect({ socket, servername: target.hostname }),
  });
  req.on("response", (answer) => {
    let body = "";
    answer.setEncoding("utf8");
    answer.on("data", (c) => (body += c));
    answer.on("end", () => {
      process.stdout.write(JSON.stringify({ status: answer.statusCode, body }));
      socket.destroy();
    });
  });
  req.on("error", (e) => {
    console.error(e);
    process.exit(2);
  });
  req.end();
});
tunnel.on("error", (e) => {
  console.error(e);
  process.exit(2);
});
tunnel.end();
