// The AWS SDK for JavaScript v3 in a sandbox with only placeholder keys: STS GetCallerIdentity
// at ENDPOINT through $HTTPS_PROXY. The SDK has no proxy support of its own, so its https agent
// opens each connection as a CONNECT tunnel (what proxy-agent packages do), then TLS inside it;
// trust comes from $NODE_EXTRA_CA_CERTS. Credentials: the SDK's default chain (the env vars).
// Usage: node js-sdk-sts-via-proxy.mjs https://host:port  → prints the caller's ARN as JSON.
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const proxy = new URL(process.env.HTTPS_PROXY);

class TunnelAgent extends https.Agent {
  createConnection(options, done) {
    const authority = `${options.host}:${options.port}`;
    const headers = { host: authority };
    if (proxy.password) headers["proxy-authorization"] = `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString("base64")}`;
    const tunnel = http.request({ host: proxy.hostname, port: proxy.port, method: "CONNECT", path: authority, headers });
    tunnel.on("connect", (res, socket) => {
      if (res.statusCode !== 200) return done(new Error(`CONNECT answered ${res.statusCode}`));
      done(null, tls.connect({ socket, servername: options.servername ?? options.host }));
    });
    tunnel.on("error", done);
    tunnel.end();
  }
}

const client = new STSClient({ endpoint: process.argv[2], region: "us-east-1", requestHandler: new NodeHttpHandler({ httpsAgent: new TunnelAgent({ keepAlive: true }) }) });
const identity = await client.send(new GetCallerIdentityCommand({}));
console.log(JSON.stringify(identity.Arn));
