import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import {
  ChatEventSchema,
  ChatService,
  type ChatStreamEvent,
  readMochiError,
  Role,
  streamChat,
  TURN_ID_HEADER,
} from "../src/index.js";
import {
  cutConnections,
  droppableClient,
  eventPosition,
  liveClient,
  longMessage,
  messagesOf,
  newSession,
  textOf,
} from "./support.js";

describe("a stream whose connection drops", () => {
  const client = liveClient();
  const droppable = droppableClient();
  after(() => {
    client.close();
    droppable.close();
  });

  it("resumes a continueOnDisconnect turn with every event once and the reply whole", async () => {
    const sessionId = await newSession(client);
    const stream = droppable.chatStream({
      sessionId,
      message: longMessage(30),
      continueOnDisconnect: true,
    });
    const events: ChatStreamEvent[] = [];

    for await (const event of stream) {
      events.push(event);
      if (events.length === 3) {
        await cutConnections(droppable, sessionId);
      }
    }

    const cases = events.map((event) => event.case);
    assert.equal(cases.filter((name) => name === "messageComplete").length, 1, `${cases}`);
    assert.deepEqual(cases.slice(-2), ["messageComplete", "done"]);
    const positions = events.map((event) => eventPosition(event.eventId));
    for (let index = 1; index < positions.length; index += 1) {
      assert.ok(positions[index - 1]! < positions[index]!, `event ids out of order: ${positions}`);
    }
    const messages = await messagesOf(client, sessionId);
    const reply = messages[1];
    assert.equal(reply?.role, Role.ASSISTANT);
    assert.equal(reply.partialReason, undefined);
    assert.equal(textOf(events), reply.content);
    assert.equal(reply.content, `You said: ${longMessage(30)}`);
    assert.match(stream.turnId ?? "", /.+/);
  });

  it("throws when the turn was started without continueOnDisconnect", async () => {
    const sessionId = await newSession(client);
    const seen: string[] = [];

    await assert.rejects(
      async () => {
        for await (const event of droppable.chatStream({ sessionId, message: longMessage(30) })) {
          seen.push(event.case);
          if (seen.length === 3) {
            await cutConnections(droppable, sessionId);
          }
        }
      },
      (error: unknown) => error instanceof ConnectError,
    );
    assert.ok(!seen.includes("done"), `the stream went on: ${seen}`);
  });

  it("gives up with the error when the server stays unreachable", async () => {
    let watches = 0;
    const chat = createClient(
      ChatService,
      createRouterTransport(({ service }) =>
        service(ChatService, {
          async *chatStream(request, context) {
            context.responseHeader.set(TURN_ID_HEADER, "turn1");
            yield create(ChatEventSchema, {
              eventId: "turn1:1",
              event: { case: "contentDelta", value: { content: "Y", role: "assistant" } },
            });
            throw new ConnectError(`connection to ${request.sessionId} lost`, Code.Unavailable);
          },
          watchTurn() {
            watches += 1;
            throw new ConnectError("no route to the server", Code.Unavailable);
          },
        }),
      ),
    );
    const seen: string[] = [];

    await assert.rejects(
      async () => {
        for await (const event of streamChat(chat, {
          sessionId: "s1",
          message: "hi",
          continueOnDisconnect: true,
        })) {
          seen.push(event.eventId);
        }
      },
      (error: unknown) => readMochiError(error).message === "no route to the server",
    );
    assert.deepEqual(seen, ["turn1:1"]);
    assert.equal(watches, 4);
  });
});
