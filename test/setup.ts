/**
 * Preloaded before every test file (bunfig.toml). An unhandled rejection anywhere fails the
 * run instead of scrolling past, and no test may reach a real AWS endpoint or instance
 * metadata: the default chain's IMDS step is switched off and STS must be given explicitly.
 */
process.on("unhandledRejection", (reason) => {
  console.error("unhandled rejection in a test:", reason);
  process.exitCode = 1;
  throw reason;
});

process.env.AWS_EC2_METADATA_DISABLED = "true";
for (const name of [
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  "AWS_PROFILE",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "NODE_EXTRA_CA_CERTS",
]) {
  delete process.env[name];
}

// Every child process and temp dir a helper started is cleaned up after each test file, even
// when a test failed half-way (bun test does not run process exit hooks).
import { afterAll } from "bun:test";
import { cleanupAll } from "./helpers/cleanup.ts";
afterAll(cleanupAll);
