import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type ChatStreamEvent, Code, readMochiError } from "../src/index.js";
import { liveClient, longMessage, messagesOf, newSession, textOf } from "./support.js";

/** Reads a stream to its end. */
async function drain(events: AsyncIterable<ChatStreamEvent>): Promise<ChatStreamEvent[]> {
  const seen: ChatStreamEvent[] = [];
  for await (const event of events) {
    seen.push(event);
  }
  return seen;
}

describe("watchTurn and cancelTurn", () => {
  const client = liveClient();
  const other = liveClient();
  after(() => {
    client.close();
    other.close();
  });

  it("lets a second client watch the running turn, from its start or after an event", async () => {
    const sessionId = await newSession(client);
    const stream = client.chatStream({
      sessionId,
      message: longMessage(30),
      continueOnDisconnect: true,
    });
    const first = await stream.next();
    assert.equal(first.value?.case, "contentDelta");

    const whole = other.watchTurn(sessionId);
    const rest = other.watchTurn(sessionId, { afterEventId: first.value.eventId });
    const [own, watched, later] = await Promise.all([drain(stream), drain(whole), drain(rest)]);

    const reply = (await messagesOf(client, sessionId))[1];
    assert.equal(textOf([first.value, ...own]), reply?.content);
    assert.equal(textOf(watched), reply?.content);
    assert.equal(textOf(later), textOf(own));
    assert.equal(whole.turnId, stream.turnId);
    assert.equal(rest.turnId, stream.turnId);
    for (const events of [watched, later]) {
      assert.deepEqual(
        events.filter((event) => event.case !== "contentDelta").map((event) => event.case),
        ["messageComplete", "done"],
      );
    }
  });

  it("replays a turn that has ended", async () => {
    const sessionId = await newSession(client);
    const streamed = await drain(client.chatStream({ sessionId, message: "Hello there" }));

    const replayed = await drain(other.watchTurn(sessionId));

    assert.equal(textOf(replayed), "You said: Hello there");
    assert.deepEqual(
      replayed.map((event) => event.eventId).slice(-2),
      streamed.map((event) => event.eventId).slice(-2),
    );
  });

  it("stops the running turn, keeps its partial reply and tells its watchers", async () => {
    const sessionId = await newSession(client);
    const stream = client.chatStream({
      sessionId,
      message: longMessage(),
      continueOnDisconnect: true,
    });
    const first = await stream.next();
    assert.equal(first.value?.case, "contentDelta");

    const stopped = await other.cancelTurn(sessionId);

    assert.equal(stopped, stream.turnId);
    const rest = await drain(stream);
    const last = rest.at(-1);
    assert.equal(last?.case, "error", `${rest.map((event) => event.case)}`);
    assert.equal(last.value.code, "TURN_STOPPED");
    assert.ok(!rest.some((event) => event.case === "done"));
    const reply = (await messagesOf(client, sessionId))[1];
    assert.equal(reply?.partialReason, "cancelled");
    assert.ok(`You said: ${longMessage()}`.startsWith(reply.content));
    const { session } = await client.sessions.getSession({ sessionId });
    assert.equal(session?.activeTurnId, undefined);
  });

  it("fails with TURN_NOT_FOUND when no turn runs", async () => {
    const sessionId = await newSession(client);

    await assert.rejects(
      () => client.cancelTurn(sessionId),
      (error: unknown) => {
        const details = readMochiError(error);
        return details.code === Code.NotFound && details.reason === "TURN_NOT_FOUND";
      },
    );
  });
});
