// The local stack in a child process (`packages/testkit/bench/stackServer.ts`, run with tsx), for benchmarks whose
// client must not share an event loop with the servers. See that script for the protocol.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const root = join(import.meta.dirname, "..", "..");
const server = join(root, "packages", "testkit", "bench", "stackServer.ts");
const tsx = pathToFileURL(createRequire(join(root, "package.json")).resolve("tsx")).href;

// Variables that would make the SDK's chain pick something other than the stack's container endpoint (as
// `LocalAws.layerEnv` clears them).
const shadowing = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_PROFILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  "AWS_ENDPOINT_URL",
];

/** Epoch milliseconds, sub-millisecond, on the clock the stack process reports in `at`. */
export const now = () => performance.timeOrigin + performance.now();

/** Starts the stack process and resolves once it is listening. */
export const startStack = () =>
  new Promise((resolve, reject) => {
    // No inherited execArgv: a `--cpu-prof` of the benchmark must not profile the stack too.
    const child = spawn(process.execPath, ["--import", tsx, server], {
      cwd: root,
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, NODE_NO_WARNINGS: "1" },
    });
    const pending = new Map();
    let nextId = 1;
    let ready = false;
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (!ready) reject(new Error(`the stack process exited before it was ready (${code ?? signal})`));
      for (const { reject: fail } of pending.values()) fail(new Error("the stack process exited"));
      pending.clear();
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (!line.startsWith("@stack ")) return;
      const message = JSON.parse(line.slice("@stack ".length));
      if (message.ready !== undefined) {
        ready = true;
        const stack = {
          ...message.ready,
          command: (cmd) =>
            new Promise((resolveCommand, rejectCommand) => {
              const id = nextId++;
              pending.set(id, { resolve: resolveCommand, reject: rejectCommand });
              child.stdin.write(`${JSON.stringify({ id, cmd })}\n`);
            }),
          // The current set as the SDK takes static credentials.
          credentials: async () => {
            const { result } = await stack.command("credentials");
            return { ...result, expiration: new Date(result.expiration) };
          },
          useEnv: () => {
            for (const key of shadowing) delete process.env[key];
            Object.assign(process.env, message.ready.env, { AWS_EC2_METADATA_DISABLED: "true" });
          },
          close: () =>
            new Promise((resolveClose) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolveClose();
              child.once("exit", () => resolveClose());
              child.stdin.end();
              setTimeout(() => child.kill("SIGTERM"), 5_000).unref();
            }),
        };
        resolve(stack);
        return;
      }
      const waiter = pending.get(message.id);
      if (waiter === undefined) return;
      pending.delete(message.id);
      if (message.error !== undefined) waiter.reject(new Error(message.error));
      else waiter.resolve({ at: message.at, result: message.result });
    });
  });
