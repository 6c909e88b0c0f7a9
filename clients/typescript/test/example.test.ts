import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { liveClient, SECURE } from "./support.js";

const run = promisify(execFile);
const packageRoot = fileURLToPath(new URL("..", import.meta.url));

/** Runs examples/chat.ts as `npx tsx examples/chat.ts ...` would, and returns what it did. */
async function chatExample(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--import", "tsx", "examples/chat.ts", ...args],
      { cwd: packageRoot, env: { ...process.env, ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    assert.equal(typeof failed.code, "number", `the example did not run: ${String(error)}`);
    return { code: failed.code as number, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

describe("examples/chat.ts", () => {
  liveClient().close(); // fails early without MOCHI_GRPC_TARGET

  it("prints the streamed reply", async () => {
    const result = await chatExample(["Hello"], { MOCHI_MODEL: "llama3.2:latest" });

    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "You said: Hello\n");
  });

  it("uses a model the server lists when MOCHI_MODEL is unset, and says which", async () => {
    const result = await chatExample(["Hi"], { MOCHI_MODEL: "" });

    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "You said: Hi\n");
    assert.match(result.stderr, /^model llama3\.2:latest \(set MOCHI_MODEL to choose another\)$/m);
  });

  it("reports a refused request and exits non-zero", async () => {
    const result = await chatExample(["Hello"], { MOCHI_MODEL: "no-such-model:latest" });

    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /NOT_FOUND \(MODEL_NOT_FOUND\)/);
  });

  it("reports key and TLS settings that do not fit together and exits 2", async () => {
    const result = await chatExample(["Hello"], {
      MOCHI_GRPC_TLS_CERT_FILE: "/nowhere/client.pem",
      MOCHI_GRPC_TLS_KEY_FILE: "",
    });

    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /^error: MOCHI_GRPC_TLS_CERT_FILE is set but MOCHI_GRPC_TLS_KEY_FILE is not/m,
    );
  });

  if (SECURE) {
    // The tests above ran with the key, the CA and the client certificate of
    // the environment, as a user of the secure server would.
    it("reports UNAUTHENTICATED without MOCHI_API_KEY", async () => {
      const result = await chatExample(["Hello"], {
        MOCHI_MODEL: "llama3.2:latest",
        MOCHI_API_KEY: "",
      });

      assert.equal(result.code, 1);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, /^error: UNAUTHENTICATED \(UNAUTHENTICATED\): /m);
    });
  }
});
