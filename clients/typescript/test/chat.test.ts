import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Role } from "../src/index.js";
import { collect, liveClient, MODEL, messagesOf, newSession, textOf } from "./support.js";

describe("chatStream", () => {
  const client = liveClient();
  after(() => client.close());

  it("streams content deltas in order, then message_complete, then done", async () => {
    const sessionId = await newSession(client);

    const events = await collect(client, { sessionId, message: "Hello there" });

    const cases = events.map((event) => event.case);
    assert.deepEqual(cases.slice(-2), ["messageComplete", "done"]);
    const deltas = events.slice(0, -2);
    assert.ok(deltas.length > 0, "no content_delta before message_complete");
    for (const event of deltas) {
      assert.equal(event.case, "contentDelta");
      assert.equal(event.value.role, "assistant");
    }
    assert.equal(textOf(events), "You said: Hello there");

    const complete = events.at(-2);
    const done = events.at(-1);
    assert.equal(complete?.case, "messageComplete");
    assert.equal(complete.value.model, MODEL);
    assert.equal(done?.case, "done");
    assert.equal(done.value.sessionId, sessionId);

    const messages = await messagesOf(client, sessionId);
    assert.deepEqual(
      messages.map(({ role, content }) => ({ role, content })),
      [
        { role: Role.USER, content: "Hello there" },
        { role: Role.ASSISTANT, content: "You said: Hello there" },
      ],
    );
    assert.equal(messages[1]?.messageId, complete.value.messageId);
    assert.equal(messages[1]?.partialReason, undefined);
  });

  it("answers the history again when the request has no message", async () => {
    const sessionId = await newSession(client);
    await collect(client, { sessionId, message: "first" });

    const events = await collect(client, { sessionId });

    assert.equal(textOf(events), "You said: first");
    const messages = await messagesOf(client, sessionId);
    assert.deepEqual(
      messages.map(({ content }) => content),
      ["first", "You said: first"],
    );
  });
});
