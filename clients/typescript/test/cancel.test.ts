import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, readMochiError, Role } from "../src/index.js";
import { liveClient, longMessage, messagesOf, newSession, pollUntil } from "./support.js";

describe("stopping a stream", () => {
  const client = liveClient();
  after(() => client.close());

  /** Waits until the turn is stored (user message + assistant reply) and returns the reply. */
  async function storedReply(sessionId: string) {
    const messages = await pollUntil(
      () => messagesOf(client, sessionId),
      (found) => found.length === 2,
      "the stopped turn to be stored",
    );
    const reply = messages[1];
    assert.ok(reply);
    assert.equal(reply.role, Role.ASSISTANT);
    return reply;
  }

  it("cancels the RPC when the consumer breaks out of the loop", async () => {
    const sessionId = await newSession(client);
    const message = longMessage();
    let received = "";

    for await (const event of client.chatStream({ sessionId, message })) {
      if (event.case === "contentDelta") {
        received += event.value.content;
        break;
      }
    }

    assert.ok(received.length > 0, "no content before the break");
    const reply = await storedReply(sessionId);
    assert.equal(reply.partialReason, "cancelled");
    const full = `You said: ${message}`;
    assert.ok(full.startsWith(reply.content), `stored text is not a prefix: ${reply.content}`);
    assert.ok(reply.content.length < full.length, "the whole reply was stored");
    assert.ok(reply.content.startsWith(received));
  });

  it("cancels the RPC when the caller's signal aborts", async () => {
    const sessionId = await newSession(client);
    const controller = new AbortController();
    const stream = client.chatStream(
      { sessionId, message: longMessage() },
      { signal: controller.signal },
    );

    await assert.rejects(
      async () => {
        for await (const event of stream) {
          if (event.case === "contentDelta") {
            controller.abort();
          }
        }
      },
      (error: unknown) => readMochiError(error).code === Code.Canceled,
    );

    const reply = await storedReply(sessionId);
    assert.equal(reply.partialReason, "cancelled");
  });

  it("ends the turn at the deadline given as timeoutMs", async () => {
    const sessionId = await newSession(client);

    await assert.rejects(
      async () => {
        for await (const event of client.chatStream(
          { sessionId, message: longMessage() },
          { timeoutMs: 500 },
        )) {
          assert.notEqual(event.case, "done");
        }
      },
      (error: unknown) => readMochiError(error).code === Code.DeadlineExceeded,
    );

    const reply = await storedReply(sessionId);
    assert.equal(reply.partialReason, "deadline_exceeded");
  });
});
