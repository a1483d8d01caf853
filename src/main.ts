import { runCli } from "./cli/run.ts";
import { disableCoreDumps } from "./platform/disable-core-dumps.ts";

// Before anything reads a credential, for every command: no core dumps, and on Linux no ptrace
// or /proc/<pid>/environ|mem by other processes of the same user. Here rather than in runCli so
// that tests calling runCli in-process leave the test runner alone.
disableCoreDumps();
process.exitCode = await runCli(process.argv.slice(2));
