import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  baseUrlOf,
  ChatEventSchema,
  ChatService,
  Code,
  ConnectError,
  createMochiClient,
  type MochiClient,
  type MochiClientOptions,
  readMochiError,
  TURN_ID_HEADER,
} from "../src/index.js";
import { collect, liveClient, liveTarget, newSession, SECURE, textOf } from "./support.js";

/** Neither a CA nor a client certificate, whatever the environment says: plaintext. */
const PLAINTEXT: MochiClientOptions = { caFile: "", certFile: "", keyFile: "" };

/** A CA certificate of no server (its key was thrown away), for the settings checks. */
const SOME_CA = [
  "-----BEGIN CERTIFICATE-----",
  "MIIBojCCAUmgAwIBAgIUCR9smXwWnLjH7HZ954HJxuVuAXIwCgYIKoZIzj0EAwIw",
  "JjEkMCIGA1UEAwwbbW9jaGkgdGVzdCBDQSAobm8ga2V5IGtlcHQpMCAXDTI2MTEy",
  "OTE3MjE0NFoYDzIxMjYxMTA1MTcyMTQ0WjAmMSQwIgYDVQQDDBttb2NoaSB0ZXN0",
  "IENBIChubyBrZXkga2VwdCkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAREWb3V",
  "fsIIJf5QDxdnmD1q8CWaJFZ3XZbXAICQgqzh7qszRR4pPyLzv80aaJg9vVnaawnG",
  "XMAjqSutgPQIn5f/o1MwUTAdBgNVHQ4EFgQUJOEPw1CVD+QeKiP0AU5lrXgib4ww",
  "HwYDVR0jBBgwFoAUJOEPw1CVD+QeKiP0AU5lrXgib4wwDwYDVR0TAQH/BAUwAwEB",
  "/zAKBggqhkjOPQQDAgNHADBEAiB1ELzxpaeC6UTcVicNwubtv/1xRvR75ohIgo9J",
  "qfiSwwIgaJciQ0iAKGk5zw6FKd6eaTH6Wg6BMeZibRnFlKsoZvo=",
  "-----END CERTIFICATE-----",
].join("\n");

/** Long enough for a TLS handshake on a loaded machine; a hang would show as DEADLINE_EXCEEDED. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Runs `call`, which must fail, and returns what it threw. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  assert.fail("the call succeeded");
}

/** Runs `body` with the environment variables set ("" or a value) or removed (undefined). */
function withEnv(vars: Record<string, string | undefined>, body: () => void): void {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = value;
      }
    }
  };
  apply(vars);
  try {
    body();
  } finally {
    apply(saved);
  }
}

/**
 * Asks GetServerInfo of a client made by `make` with a deadline and returns
 * what it failed with: the client must get an error, not hang until the
 * deadline.
 */
async function refusal(make: () => MochiClient): Promise<ConnectError> {
  const client = make();
  try {
    const error = await failure(() =>
      client.server.getServerInfo({}, { timeoutMs: CONNECT_TIMEOUT_MS }),
    );
    assert.ok(error instanceof ConnectError, `not a ConnectError: ${String(error)}`);
    assert.notEqual(error.code, Code.DeadlineExceeded, `it hung: ${error.message}`);
    return error;
  } finally {
    client.close();
  }
}

describe("key and TLS settings", () => {
  it("goes https with a CA and http without", () => {
    assert.equal(baseUrlOf("127.0.0.1:50051"), "http://127.0.0.1:50051");
    assert.equal(baseUrlOf("127.0.0.1:50051", true), "https://127.0.0.1:50051");
    assert.equal(baseUrlOf("https://mochi.example:443", false), "https://mochi.example:443");
  });

  it("refuses a client certificate without its key, and a key without its certificate", () => {
    assert.throws(
      () => createMochiClient("127.0.0.1:1", { ca: SOME_CA, certFile: "/nowhere/client.pem" }),
      /^Error: certFile is set but keyFile is not: a client certificate needs both PEM files/,
    );
    assert.throws(
      () => createMochiClient("127.0.0.1:1", { ca: SOME_CA, keyFile: "/nowhere/client.key" }),
      /^Error: keyFile is set but certFile is not/,
    );
    withEnv(
      {
        MOCHI_GRPC_TLS_CA_FILE: "",
        MOCHI_GRPC_TLS_CERT_FILE: "/nowhere/client.pem",
        MOCHI_GRPC_TLS_KEY_FILE: undefined,
      },
      () => {
        assert.throws(
          () => createMochiClient("127.0.0.1:1", { ca: SOME_CA }),
          /^Error: MOCHI_GRPC_TLS_CERT_FILE is set but MOCHI_GRPC_TLS_KEY_FILE is not/,
        );
      },
    );
  });

  it("refuses a client certificate or a server name without TLS", () => {
    assert.throws(
      () => createMochiClient("127.0.0.1:1", { ...PLAINTEXT, certFile: "a.pem", keyFile: "a.key" }),
      /^Error: certFile needs TLS: give the CA that signed the server's certificate/,
    );
    assert.throws(
      () => createMochiClient("127.0.0.1:1", { ...PLAINTEXT, serverName: "mochi.example" }),
      /^Error: serverName needs TLS/,
    );
  });

  it("refuses a CA with a plaintext http:// target, and a CA given twice", () => {
    assert.throws(
      () => createMochiClient("http://127.0.0.1:1", { ca: SOME_CA }),
      /^Error: ca is set but the target http:\/\/127\.0\.0\.1:1 is plaintext/,
    );
    assert.throws(
      () => createMochiClient("127.0.0.1:1", { ca: SOME_CA, caFile: "/nowhere/ca.pem" }),
      /^Error: give ca \(the PEM text\) or caFile \(its file\), not both/,
    );
  });

  it("names the setting whose PEM file it cannot read or use", () => {
    assert.throws(
      () => createMochiClient("127.0.0.1:1", { caFile: "/nowhere/ca.pem" }),
      /^Error: caFile: cannot read \/nowhere\/ca\.pem: ENOENT/,
    );
    withEnv({ MOCHI_GRPC_TLS_CA_FILE: "/nowhere/ca.pem" }, () => {
      assert.throws(
        () => createMochiClient("127.0.0.1:1", { certFile: "", keyFile: "" }),
        /^Error: MOCHI_GRPC_TLS_CA_FILE: cannot read \/nowhere\/ca\.pem/,
      );
    });
    assert.throws(
      () => createMochiClient("127.0.0.1:1", { ca: "not a certificate" }),
      /^Error: ca: not a PEM certificate: /,
    );
    const directory = mkdtempSync(join(tmpdir(), "mochi-credentials-"));
    try {
      const notPem = join(directory, "not.pem");
      writeFileSync(notPem, "not a certificate\n");
      assert.throws(
        () => createMochiClient("127.0.0.1:1", { caFile: notPem }),
        /^Error: caFile: not a PEM certificate: /,
      );
      assert.throws(
        () => createMochiClient("127.0.0.1:1", { ca: SOME_CA, certFile: notPem, keyFile: notPem }),
        /^Error: certFile and keyFile: not a usable certificate and key: /,
      );
    } finally {
      rmSync(directory, { recursive: true });
    }
  });
});

describe("the API key", () => {
  /** Who sent what `authorization` to a local ChatService, call by call. */
  const seen: [method: string, authorization: string | null][] = [];
  const server = createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(ChatService, {
          async *chatStream(_request, context) {
            seen.push(["ChatStream", context.requestHeader.get("authorization")]);
            context.responseHeader.set(TURN_ID_HEADER, "turn1");
            yield create(ChatEventSchema, {
              eventId: "turn1:1",
              event: { case: "contentDelta", value: { content: "Y", role: "assistant" } },
            });
            // As a dropped connection: the stream resumes with WatchTurn.
            throw new ConnectError("connection lost", Code.Unavailable);
          },
          async *watchTurn(request, context) {
            seen.push(["WatchTurn", context.requestHeader.get("authorization")]);
            yield create(ChatEventSchema, {
              eventId: "turn1:2",
              event: { case: "done", value: { sessionId: request.sessionId } },
            });
          },
          cancelTurn(_request, context) {
            seen.push(["CancelTurn", context.requestHeader.get("authorization")]);
            return { turnId: "turn1" };
          },
        }),
    }),
  );
  const listening = new Promise<string>((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Every call the client makes: unary, a stream that resumes, a watch. */
  async function everyCall(client: MochiClient): Promise<void> {
    try {
      assert.equal(await client.cancelTurn("s1"), "turn1");
      const events = await collect(client, {
        sessionId: "s1",
        message: "hi",
        continueOnDisconnect: true,
      });
      assert.deepEqual(
        events.map(({ eventId }) => eventId),
        ["turn1:1", "turn1:2"],
      );
      for await (const event of client.watchTurn("s1")) {
        assert.equal(event.case, "done");
      }
    } finally {
      client.close();
    }
  }

  it("goes as authorization: Bearer on unary calls, streams and their resumption", async () => {
    seen.length = 0;

    await everyCall(createMochiClient(await listening, { ...PLAINTEXT, apiKey: "k-123" }));

    assert.deepEqual(seen, [
      ["CancelTurn", "Bearer k-123"],
      ["ChatStream", "Bearer k-123"],
      ["WatchTurn", "Bearer k-123"],
      ["WatchTurn", "Bearer k-123"],
    ]);
  });

  it("comes from MOCHI_API_KEY, and is not sent when empty", async () => {
    const target = await listening;
    seen.length = 0;
    let fromEnv: MochiClient | undefined;
    let none: MochiClient | undefined;
    withEnv({ MOCHI_API_KEY: "k-env\n" }, () => {
      fromEnv = createMochiClient(target, PLAINTEXT);
      none = createMochiClient(target, { ...PLAINTEXT, apiKey: "" });
    });

    await fromEnv!.cancelTurn("s1");
    await none!.cancelTurn("s1");
    fromEnv!.close();
    none!.close();

    assert.deepEqual(seen, [
      ["CancelTurn", "Bearer k-env"],
      ["CancelTurn", null],
    ]);
  });

  it("gives way to an authorization the call sets itself", async () => {
    const client = createMochiClient(await listening, { ...PLAINTEXT, apiKey: "k-123" });
    seen.length = 0;

    await client.chat.cancelTurn(
      { sessionId: "s1" },
      { headers: { authorization: "Bearer someone-else" } },
    );
    client.close();

    assert.deepEqual(seen, [["CancelTurn", "Bearer someone-else"]]);
  });
});

if (SECURE) {
  describe("a server that requires keys and mutual TLS (live_server.py --secure)", () => {
    const client = liveClient();
    after(() => client.close());

    it("takes calls with the key, the CA and the client certificate", async () => {
      const info = await client.server.getServerInfo({});
      assert.match(info.version, /.+/);
      const sessionId = await newSession(client);

      const events = await collect(client, { sessionId, message: "hi" });

      assert.equal(textOf(events), "You said: hi");
    });

    it("refuses a client without the key, or with a wrong one: UNAUTHENTICATED", async () => {
      for (const apiKey of ["", "not-a-key"]) {
        const stranger = createMochiClient(liveTarget(), { apiKey });
        try {
          const unary = readMochiError(await failure(() => stranger.server.getServerInfo({})));
          assert.equal(unary.code, Code.Unauthenticated, `apiKey "${apiKey}": ${unary.message}`);
          assert.equal(unary.reason, "UNAUTHENTICATED");

          const refused = stranger.chatStream({ sessionId: "0123456789", message: "hi" });
          const stream = readMochiError(await failure(() => refused.next()));
          assert.equal(stream.code, Code.Unauthenticated);
          assert.equal(stream.reason, "UNAUTHENTICATED");
        } finally {
          stranger.close();
        }
      }
    });

    it("cannot be reached without the CA: an error, not a hang", async () => {
      // Plaintext to a TLS port.
      await refusal(() => createMochiClient(liveTarget(), PLAINTEXT));
      // TLS that trusts only the system's CAs, which did not sign the server's certificate.
      const untrusted = await refusal(() =>
        createMochiClient(`https://${liveTarget()}`, PLAINTEXT),
      );
      assert.match(untrusted.message, /certificate/);
    });

    it("cannot be reached without a client certificate (mutual TLS)", async () => {
      await refusal(() => createMochiClient(liveTarget(), { certFile: "", keyFile: "" }));
    });

    it("checks the name in the server's certificate", async () => {
      const named = createMochiClient(liveTarget(), { serverName: "localhost" });
      try {
        await named.server.getServerInfo({});
      } finally {
        named.close();
      }
      const wrong = await refusal(() =>
        createMochiClient(liveTarget(), { serverName: "elsewhere.example" }),
      );
      assert.match(wrong.message, /elsewhere\.example/);
    });
  });
} else {
  describe("a plaintext server without keys (live_server.py)", () => {
    it("takes calls without a key", async () => {
      const client = createMochiClient(liveTarget(), { ...PLAINTEXT, apiKey: "" });
      try {
        const info = await client.server.getServerInfo({});
        assert.match(info.version, /.+/);
      } finally {
        client.close();
      }
    });

    it("cannot be reached over TLS: an error, not a hang", async () => {
      await refusal(() => createMochiClient(`https://${liveTarget()}`, PLAINTEXT));
    });
  });
}
