import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, errorReason, MOCHI_ERROR_DOMAIN, readMochiError, statusName } from "../src/index.js";
import { liveClient, longMessage, newSession } from "./support.js";

const UNKNOWN_SESSION = "0123456789";

/** Runs `call`, which must fail, and returns what it threw. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  assert.fail("the call succeeded");
}

describe("errors", () => {
  const client = liveClient();
  after(() => client.close());

  it("reads NOT_FOUND and the SESSION_NOT_FOUND reason of a unary call", async () => {
    const error = await failure(() => client.sessions.getSession({ sessionId: UNKNOWN_SESSION }));

    const details = readMochiError(error);
    assert.equal(details.code, Code.NotFound);
    assert.equal(details.status, "NOT_FOUND");
    assert.equal(details.reason, "SESSION_NOT_FOUND");
    assert.equal(details.domain, MOCHI_ERROR_DOMAIN);
    assert.equal(details.metadata["session_id"], UNKNOWN_SESSION);
    assert.equal(errorReason(error), "SESSION_NOT_FOUND");
  });

  it("reads the reason of a stream refused before its first event", async () => {
    const error = await failure(async () => {
      for await (const event of client.chatStream({ sessionId: UNKNOWN_SESSION, message: "hi" })) {
        assert.fail(`unexpected event ${event.case}`);
      }
    });

    const details = readMochiError(error);
    assert.equal(details.code, Code.NotFound);
    assert.equal(details.reason, "SESSION_NOT_FOUND");
  });

  it("refuses a second turn while one runs with SESSION_BUSY", async () => {
    const sessionId = await newSession(client);
    const first = client.chatStream({ sessionId, message: longMessage() });
    const started = await first.next();
    assert.equal(started.value?.case, "contentDelta");

    try {
      const error = await failure(() => client.chatStream({ sessionId, message: "again" }).next());

      const details = readMochiError(error);
      assert.equal(details.status, "FAILED_PRECONDITION");
      assert.equal(details.reason, "SESSION_BUSY");
    } finally {
      await first.return();
    }
  });

  it("reads the field named by a BadRequest detail", async () => {
    const error = await failure(() => client.sessions.createSession({ model: "" }));

    const details = readMochiError(error);
    assert.equal(details.code, Code.InvalidArgument);
    assert.equal(details.reason, "VALIDATION_ERROR");
    assert.deepEqual(
      details.fieldViolations.map(({ field }) => field),
      ["model"],
    );
  });

  it("gives an error without details no reason", () => {
    const details = readMochiError(new TypeError("boom"));
    assert.equal(details.code, Code.Unknown);
    assert.equal(details.reason, undefined);
    assert.deepEqual(details.fieldViolations, []);
  });

  it("names every status the gRPC way", () => {
    assert.equal(statusName(Code.FailedPrecondition), "FAILED_PRECONDITION");
    assert.equal(statusName(Code.Canceled), "CANCELED");
    assert.equal(statusName(Code.Unauthenticated), "UNAUTHENTICATED");
  });
});
