/**
 * Runs INSIDE a network namespace created by broker-exec-imds.test.ts: moto as STS, then
 * `credproxy broker exec --imds` wrapping boto3 and the JS SDK default chain, which must find
 * the role through IMDSv2 on 169.254.169.254. Prints one JSON report.
 */
import { BINARY_PATH, cleanEnv, tempDir } from "../helpers/binary.ts";
import { commandFor } from "../helpers/clients.ts";
import { startMoto } from "../helpers/moto.ts";
import { loAddresses, runScenario } from "../helpers/netns.ts";

await runScenario(async (report) => {
  const moto = await startMoto();
  const home = await tempDir("credproxy-execimds-");
  const env = await cleanEnv({
    HOME: home,
    AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
    AWS_SECRET_ACCESS_KEY: "source-secret-never-given-to-the-child",
    AWS_ENDPOINT_URL_STS: moto.endpoint,
    AWS_REGION: "us-east-1",
    // An outer container endpoint (exec run inside a task or another exec): the child must not
    // inherit it, or its SDK would ask that endpoint before IMDS and run as the outer identity.
    AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://127.0.0.1:9/outer-identity",
    AWS_CONTAINER_AUTHORIZATION_TOKEN: "outer-token",
  });
  const run = async (client: "boto3" | "js-sdk") => {
    const proc = Bun.spawn([BINARY_PATH, "broker", "exec", "--imds", "--role-arn", moto.roleArn("role-a"), "--", ...commandFor(client)], {
      env,
      cwd: home,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, out: out.trim(), err: err.slice(-1500) };
  };
  report.before = await loAddresses();
  report.boto3 = await run("boto3");
  report.js = await run("js-sdk");
  report.after = await loAddresses();
  await moto.stop();
});
