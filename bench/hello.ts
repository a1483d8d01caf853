// The reference server for the throughput benchmark: the smallest useful Bun.serve.
const server = Bun.serve({ hostname: "127.0.0.1", port: Number(process.argv[2] ?? 0), fetch: () => new Response("hello") });
console.log(server.port);
process.on("SIGTERM", () => process.exit(0));
