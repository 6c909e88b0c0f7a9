import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type ChatStreamEvent,
  type ChatStreamInit,
  createMochiClient,
  type Message,
  type MochiClient,
} from "../src/index.js";

/** The model the fake Ollama serves. */
export const MODEL = "llama3.2:latest";

/**
 * Whether the live server requires API keys and mutual TLS
 * (`clients/live_server.py --secure`): it then hands the tests an admin key
 * in MOCHI_API_KEY, and the CA and a client certificate in
 * MOCHI_GRPC_TLS_*_FILE, which every createMochiClient reads.
 */
export const SECURE = (process.env["MOCHI_API_KEY"] ?? "") !== "";

/** The live server's address, MOCHI_GRPC_TARGET; the tests need one. */
export function liveTarget(): string {
  const target = process.env["MOCHI_GRPC_TARGET"];
  assert.ok(
    target,
    "MOCHI_GRPC_TARGET is not set: run through clients/live_server.py (see test.sh)",
  );
  return target;
}

/** A client of the live server, with the environment's key and TLS settings. */
export function liveClient(): MochiClient {
  return createMochiClient(liveTarget());
}

/**
 * A client of the same server through the proxy whose connections
 * `cutConnections` cuts (a TCP proxy: the key and TLS go through it as they are).
 */
export function droppableClient(): MochiClient {
  const target = process.env["MOCHI_DROPPABLE_TARGET"];
  assert.ok(target, "MOCHI_DROPPABLE_TARGET is not set: run through clients/live_server.py");
  return createMochiClient(target);
}

/**
 * Cuts every connection through the droppable proxy, as a network that drops
 * would, and returns once `client`'s connection is gone: a bare WatchTurn of
 * the session's running turn (which does not resume), opened on that
 * connection before the cut, has failed.
 */
export async function cutConnections(client: MochiClient, sessionId: string): Promise<void> {
  const pid = Number(process.env["MOCHI_DROPPABLE_PID"]);
  assert.ok(pid > 0, "MOCHI_DROPPABLE_PID is not set: run through clients/live_server.py");
  const witness = client.chat.watchTurn({ sessionId })[Symbol.asyncIterator]();
  assert.equal((await witness.next()).done, false, "the turn had ended before the cut");
  process.kill(pid, "SIGUSR1");
  await assert.rejects(
    async () => {
      while (!(await witness.next()).done) {
        // the events the turn sends until the cut
      }
    },
    "the connection was not cut: the turn ended first",
  );
}

/** The position of an event id in its turn, for tests of its order (ids are opaque to users). */
export function eventPosition(eventId: string): number {
  const position = Number(eventId.slice(eventId.lastIndexOf(":") + 1));
  assert.ok(Number.isInteger(position), `not an event id: ${eventId}`);
  return position;
}

export async function newSession(client: MochiClient): Promise<string> {
  const { session } = await client.sessions.createSession({ model: MODEL });
  assert.ok(session, "CreateSession returned no session");
  assert.match(session.sessionId, /^[0-9a-f]{10}$/);
  return session.sessionId;
}

/** Runs a whole streamed turn and returns its events. */
export async function collect(
  client: MochiClient,
  request: ChatStreamInit,
): Promise<ChatStreamEvent[]> {
  const events: ChatStreamEvent[] = [];
  for await (const event of client.chatStream(request)) {
    events.push(event);
  }
  return events;
}

/** The reply text of a turn: its content deltas joined in order. */
export function textOf(events: readonly ChatStreamEvent[]): string {
  return events.map((event) => (event.case === "contentDelta" ? event.value.content : "")).join("");
}

export async function messagesOf(client: MochiClient, sessionId: string): Promise<Message[]> {
  const { messages } = await client.sessions.listMessages({ sessionId });
  return messages;
}

/**
 * Asks `probe` again and again until `done` accepts its answer, at most
 * `attempts` times, and returns that answer; fails when it never does.
 */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  attempts = 400,
): Promise<T> {
  let last: T | undefined;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    last = await probe();
    if (done(last)) {
      return last;
    }
    await sleep(25);
  }
  assert.fail(`gave up waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

/** A user message long enough that its echo is still streaming when a test stops it. */
export function longMessage(words = 150): string {
  return Array.from({ length: words }, (_, index) => `word${index}`).join(" ");
}
