import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, readMochiError, Role } from "../src/index.js";
import { collect, liveClient, messagesOf, newSession, textOf } from "./support.js";

describe("EditMessage", () => {
  const client = liveClient();
  after(() => client.close());

  it("changes a user message and removes every later message", async () => {
    const sessionId = await newSession(client);
    await collect(client, { sessionId, message: "one" });
    await collect(client, { sessionId, message: "two" });
    assert.equal((await messagesOf(client, sessionId)).length, 4);

    const edited = await client.sessions.editMessage({
      sessionId,
      messageIndex: 0,
      content: "changed",
    });

    assert.equal(edited.message?.content, "changed");
    assert.equal(edited.message?.role, Role.USER);
    assert.equal(edited.messageCount, 1);
    const left = await messagesOf(client, sessionId);
    assert.deepEqual(
      left.map(({ role, content }) => ({ role, content })),
      [{ role: Role.USER, content: "changed" }],
    );

    const events = await collect(client, { sessionId });
    assert.equal(textOf(events), "You said: changed");
  });

  it("refuses to edit an assistant message and changes nothing", async () => {
    const sessionId = await newSession(client);
    await collect(client, { sessionId, message: "keep me" });

    await assert.rejects(
      client.sessions.editMessage({ sessionId, messageIndex: 1, content: "nope" }),
      (error: unknown) => {
        const details = readMochiError(error);
        return details.code === Code.InvalidArgument && details.reason === "INVALID_MESSAGE_INDEX";
      },
    );

    assert.deepEqual(
      (await messagesOf(client, sessionId)).map(({ content }) => content),
      ["keep me", "You said: keep me"],
    );
  });
});
