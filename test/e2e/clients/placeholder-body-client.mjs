// A sandbox client for the placeholder-body tests, run by node with only `proxy env`'s
// variables: it sends one request through HTTPS_PROXY (a CONNECT tunnel, or plain http:// in
// absolute form), writing its body part by part, each write handed to the socket and the
// event loop turned before the next, so a one-byte part travels on its own. It prints
// {status, headers, body} as JSON, or {error} when the request failed.
//
// argv[2]: {"url", "method", "headers", "parts": [{"text" | "base64", "repeat"?, "times"?}], "chunked"?}:
// each part is its text repeated `repeat` times, written `times` times.
import http from "node:http";
import https from "node:https";
import tls from "node:tls";

const spec = JSON.parse(process.argv[2]);
const target = new URL(spec.url);
const proxy = new URL(process.env.HTTPS_PROXY);

const write = (req, bytes) => new Promise((resolve, reject) => req.write(bytes, (error) => (error ? reject(error) : setImmediate(resolve))));

async function sendBody(req) {
  for (const part of spec.parts ?? []) {
    const bytes = part.base64 !== undefined ? Buffer.from(part.base64, "base64") : Buffer.from(part.text.repeat(part.repeat ?? 1));
    for (let i = 0; i < (part.times ?? 1); i++) await write(req, bytes);
  }
  req.end();
}

function finish(req) {
  req.on("response", (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => console.log(JSON.stringify({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() })));
    res.on("error", (error) => console.log(JSON.stringify({ error: String(error) })));
  });
  req.on("error", (error) => console.log(JSON.stringify({ error: String(error) })));
  sendBody(req).catch(() => {}); // a refused body stops being taken: the answer says why
}

const headers = { ...(spec.headers ?? {}), ...(spec.chunked ? { "transfer-encoding": "chunked" } : {}) };
if (target.protocol === "http:") {
  finish(http.request({ host: proxy.hostname, port: proxy.port, method: spec.method ?? "POST", path: target.href, headers: { host: target.host, ...headers } }));
} else {
  const connect = http.request({ host: proxy.hostname, port: proxy.port, method: "CONNECT", path: target.host, headers: { host: target.host } });
  connect.on("connect", (res, socket) => {
    if (res.statusCode !== 200) return console.log(JSON.stringify({ error: `CONNECT ${res.statusCode}` }));
    const createConnection = () => tls.connect({ socket, servername: target.hostname });
    finish(https.request(target, { method: spec.method ?? "POST", headers, createConnection }));
  });
  connect.on("error", (error) => console.log(JSON.stringify({ error: String(error) })));
  connect.end();
}
