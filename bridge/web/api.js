// The public HTTP API under /api/v1, as the page uses it: JSON calls, and
// the event streams of a turn. A POST stream is read with fetch (EventSource
// only does GET); following a running turn after a reload is a GET stream,
// read with EventSource, which resumes by itself with Last-Event-ID.
//
// The API key, when the server asks for one, lives in sessionStorage and goes
// as `Authorization: Bearer`. EventSource cannot send that header, so with a
// key the GET stream is read with fetch too, resuming from the last id.

const KEY_STORAGE = "mochi-api-key";
const BASE = new URL("api/v1/", document.baseURI);

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** An error answer of the API: its status and the body's code and message. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

function url(path) {
  return new URL(path.replace(/^\//, ""), BASE);
}

function headers(extra) {
  const result = { Accept: "application/json", ...extra };
  const key = apiKey();
  if (key) result.Authorization = `Bearer ${key}`;
  return result;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, say
  }
  const error = body && body.error;
  if (error && typeof error.message === "string") {
    return new ApiError(response.status, error.code, error.message, error.details);
  }
  return new ApiError(response.status, "HTTP_" + response.status, `${response.status} ${response.statusText}`);
}

/** One JSON call; the parsed body (null for 204), or an ApiError. */
export async function call(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url(path), init);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  models: () => call("GET", "models"),
  tools: () => call("GET", "tools"),
  sessions: () => call("GET", "sessions"),
  session: (id) => call("GET", `sessions/${encodeURIComponent(id)}`),
  status: (id) => call("GET", `sessions/${encodeURIComponent(id)}/status`),
  createSession: (body) => call("POST", "sessions", body),
  deleteSession: (id) => call("DELETE", `sessions/${encodeURIComponent(id)}`),
  editMessage: (id, index, content) =>
    call("PUT", `sessions/${encodeURIComponent(id)}/messages/${index}`, { content }),
  setSystemPrompt: (id, body) => call("PUT", `sessions/${encodeURIComponent(id)}/system-prompt`, body),
  removeSystemPrompt: (id) => call("DELETE", `sessions/${encodeURIComponent(id)}/system-prompt`),
  systemPrompts: () => call("GET", "system-prompts"),
  cancel: (id) => call("POST", `chat/${encodeURIComponent(id)}/cancel`, {}),
  confirmTool: (id, confirmationId, approved) =>
    call("POST", `chat/${encodeURIComponent(id)}/confirm-tool`, {
      confirmation_id: confirmationId,
      approved,
    }),
};

/** The SSE events of a response body, as {event, data, id}; comments skipped. */
async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { event: "message", data: [], id: null };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      // The last piece may be a line still arriving (or a lone \r of a \r\n).
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (event.data.length) yield { event: event.event, data: event.data.join("\n"), id: event.id };
          event = { event: "message", data: [], id: null };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event.event = value;
        else if (field === "data") event.data.push(value);
        else if (field === "id") event.id = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

const LAST_EVENTS = new Set(["done", "error"]);

/**
 * Reads a turn's events from a fetch response into onEvent(name, payload, id).
 * Resolves with the last event id seen and whether the turn ended (done or
 * error); a dropped connection resolves with ended false.
 */
async function pump(response, onEvent) {
  let lastId = null;
  try {
    for await (const { event, data, id } of readEvents(response.body)) {
      if (id) lastId = id;
      onEvent(event, JSON.parse(data), id);
      if (LAST_EVENTS.has(event)) return { lastId, ended: true };
    }
  } catch (error) {
    if (error instanceof SyntaxError) throw error;
    // the connection dropped: the caller resumes from lastId
  }
  return { lastId, ended: false };
}

/**
 * Starts a turn (POST .../stream) and follows it to its end. A refused turn
 * is an ApiError. If the connection drops, the turn goes on (it was started
 * with continue_on_disconnect) and is followed from the last event id seen.
 */
export async function streamTurn(sessionId, body, onEvent, signal) {
  const response = await fetch(url(`chat/${encodeURIComponent(sessionId)}/stream`), {
    method: "POST",
    headers: headers({ Accept: "text/event-stream", "Content-Type": "application/json" }),
    body: JSON.stringify({ ...body, continue_on_disconnect: true }),
    signal,
  });
  if (!response.ok) throw await errorOf(response);
  const { lastId, ended } = await pump(response, onEvent);
  if (!ended && !signal?.aborted) await followTurn(sessionId, { lastEventId: lastId }, onEvent, signal);
}

/**
 * Follows a running turn (GET .../stream) from its first event, or from
 * after lastEventId, until it ends or signal aborts. Resolves when nothing
 * is left to send.
 */
export function followTurn(sessionId, { turnId = null, lastEventId = null } = {}, onEvent, signal) {
  const path = new URL(url(`chat/${encodeURIComponent(sessionId)}/stream`));
  if (turnId) path.searchParams.set("turn_id", turnId);
  if (apiKey()) return followWithFetch(path, lastEventId, onEvent, signal);
  if (lastEventId) path.searchParams.set("last_event_id", lastEventId);
  return new Promise((resolve) => {
    const source = new EventSource(path);
    const finish = () => {
      source.close();
      resolve();
    };
    if (signal) signal.addEventListener("abort", finish, { once: true });
    const handle = (message) => {
      onEvent(message.type, JSON.parse(message.data), message.lastEventId);
      if (LAST_EVENTS.has(message.type)) finish();
    };
    for (const name of TURN_EVENTS) source.addEventListener(name, handle);
    source.addEventListener("error", (event) => {
      // The turn's own `error` event is a MessageEvent with data; a
      // connection problem is a plain Event. EventSource retries by itself
      // unless it gave up (closed: a 204, nothing left, or an error answer).
      if (event instanceof MessageEvent) handle(event);
      else if (source.readyState === EventSource.CLOSED) finish();
    });
  });
}

const TURN_EVENTS = [
  "content_delta",
  "thinking_delta",
  "tool_call",
  "tool_call_confirmation_required",
  "tool_result",
  "tool_continuation_start",
  "message_complete",
  "done",
];

const RETRY_MS = 1000;
const MAX_ATTEMPTS = 5;

async function followWithFetch(path, lastEventId, onEvent, signal) {
  let lastId = lastEventId;
  for (let attempt = 0; attempt < MAX_ATTEMPTS && !signal?.aborted; attempt += 1) {
    const extra = { Accept: "text/event-stream" };
    if (lastId) extra["Last-Event-ID"] = lastId;
    let response;
    try {
      response = await fetch(path, { headers: headers(extra), signal });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      continue;
    }
    if (response.status === 204) return;
    if (!response.ok) throw await errorOf(response);
    const result = await pump(response, onEvent);
    if (result.ended) return;
    lastId = result.lastId || lastId;
  }
}
