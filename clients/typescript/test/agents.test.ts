import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Code, readMochiError } from "../src/index.js";
import { liveClient, newSession } from "./support.js";

describe("agents and summaries", () => {
  const client = liveClient();
  after(() => client.close());

  // live_server.py points the server at tests/fixtures/agents: a valid agent,
  // wordsmith (tool count_words), and broken, which cannot run.
  it("lists the valid agent and the invalid one with its reason", async () => {
    const { agents } = await client.agents.listAgents({});

    const byName = new Map(agents.map((agent) => [agent.name, agent]));
    const wordsmith = byName.get("wordsmith");
    const broken = byName.get("broken");
    assert.ok(wordsmith && broken, `ListAgents returned ${agents.map((a) => a.name).join(", ")}`);
    assert.equal(wordsmith.valid, true);
    assert.notEqual(wordsmith.description, "");
    assert.equal(wordsmith.errorMessage, undefined);
    assert.ok(wordsmith.tools.includes("count_words"), `tools: ${wordsmith.tools.join(", ")}`);
    assert.equal(wordsmith.toolCount, wordsmith.tools.length);
    assert.equal(broken.valid, false);
    assert.ok(broken.errorMessage, "the invalid agent says why");
  });

  it("finds no summary for a fresh session", async () => {
    const sessionId = await newSession(client);
    try {
      const error = await client.summaries.getSessionSummary({ sessionId }).then(
        () => assert.fail("GetSessionSummary succeeded"),
        (error: unknown) => readMochiError(error),
      );
      assert.equal(error.code, Code.NotFound);
      assert.equal(error.reason, "SUMMARY_NOT_FOUND");
    } finally {
      await client.sessions.deleteSession({ sessionId });
    }
  });
});
