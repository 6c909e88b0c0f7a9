// The chat page: the sessions in the sidebar, the open session's
// conversation, and the composer. Everything goes through the public HTTP
// API (api.js); the open session is in the URL's fragment, so a reload comes
// back to it, and a turn still running is followed again from its start.

import { ApiError, api, followTurn, streamTurn } from "./api.js";
import { SystemPromptEditor, ToolConfirmation, askForApiKey } from "./dialogs.js";
import { chosenTools, renderModels, renderSessions, renderTools } from "./sessions.js";
import { LiveReply, appendUserMessage, renderMessages } from "./transcript.js";

const $ = (id) => document.getElementById(id);

const ui = {
  sessions: $("sessions"),
  model: $("model"),
  toolsFieldset: $("tools-fieldset"),
  toolList: $("tool-list"),
  newChat: $("new-chat"),
  title: $("chat-title"),
  usage: $("context-usage"),
  usageMeter: $("context-meter"),
  usageText: $("context-text"),
  promptButton: $("system-prompt-button"),
  error: $("error"),
  errorText: $("error-text"),
  transcript: $("transcript"),
  empty: $("empty-state"),
  composer: $("composer"),
  message: $("message"),
  think: $("think"),
  send: $("send"),
  stop: $("stop"),
  editBanner: $("edit-banner"),
  cancelEdit: $("cancel-edit"),
};

const state = {
  sessionId: null,
  messages: [],
  // The turn being shown as it streams: { live, controller, stopping, failure }.
  turn: null,
  // The user message being edited: { index }.
  editing: null,
};

// How long a tool confirmation waits before its dialog opens: when a
// reloaded page replays a turn, a confirmation already answered is followed
// at once by what came after it, and no dialog should flash.
const CONFIRM_DELAY_MS = 150;

const confirmation = new ToolConfirmation();
const promptEditor = new SystemPromptEditor(() => navigate(() => openSession(state.sessionId)));

// --- errors --------------------------------------------------------------

function showError(message) {
  ui.errorText.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.errorText.textContent = "";
}

/** Runs action; a 401 asks for an API key and runs it again, any other error is shown. */
async function guarded(action) {
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        await askForApiKey(error.message);
        continue;
      }
      if (error.name !== "AbortError") showError(error.message || String(error));
      return undefined;
    }
  }
}

// Opening, creating and deleting sessions run one after another, and a
// message sent meanwhile waits for them: it goes to the session on screen.
let navigation = Promise.resolve();

function navigate(action) {
  navigation = navigation.then(() => guarded(action));
  return navigation;
}

// --- sessions ------------------------------------------------------------

async function refreshSessions() {
  const { sessions } = await api.sessions();
  renderSessions(ui.sessions, sessions, state.sessionId, {
    onOpen: (id) => navigate(() => openSession(id)),
    onDelete: (id) => navigate(() => deleteSession(id)),
  });
}

function leaveTurn() {
  // The turn runs on (it was started with continue_on_disconnect); this page
  // only stops following it.
  if (state.turn) state.turn.controller.abort();
  state.turn = null;
  confirmation.dismiss();
}

function showNoSession() {
  state.sessionId = null;
  state.messages = [];
  history.replaceState(null, "", location.pathname + location.search);
  ui.transcript.replaceChildren();
  ui.empty.hidden = false;
  ui.title.textContent = "No chat open";
  ui.usage.hidden = true;
  ui.promptButton.disabled = true;
  setBusy(false);
}

async function openSession(id) {
  leaveTurn();
  cancelEdit();
  clearError();
  let session;
  try {
    session = await api.session(id);
  } catch (error) {
    if (error instanceof ApiError && error.code === "SESSION_NOT_FOUND") {
      showNoSession();
      await refreshSessions();
    }
    throw error;
  }
  state.sessionId = id;
  state.messages = session.messages;
  if (location.hash !== `#${id}`) history.replaceState(null, "", `#${id}`);
  ui.empty.hidden = true;
  ui.title.textContent = session.model;
  ui.promptButton.disabled = false;
  await refreshSessions();
  if (session.active_turn_id) {
    attach(session);
  } else {
    setBusy(false);
    showMessages();
  }
  await refreshUsage();
}

async function newChat() {
  clearError();
  const body = { model: ui.model.value };
  const tools = chosenTools(ui.toolList);
  if (tools.length) body.tool_settings = { tools, execution_policy: "always_confirm" };
  const session = await api.createSession(body);
  await openSession(session.session_id);
  ui.message.focus();
  return session.session_id;
}

async function deleteSession(id) {
  clearError();
  await api.deleteSession(id);
  if (id === state.sessionId) {
    leaveTurn();
    showNoSession();
  }
  await refreshSessions();
}

// --- the conversation ----------------------------------------------------

function showMessages() {
  renderMessages(ui.transcript, state.messages, {
    onEdit: startEdit,
    onRegenerate: () => guarded(regenerate),
  }, Boolean(state.turn));
  scrollToEnd();
}

function scrollToEnd() {
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

async function refreshUsage() {
  if (!state.sessionId) return;
  const status = await api.status(state.sessionId);
  const window = status.context_window;
  const last = state.messages.findLast(
    (m) => m.role === "assistant" && (m.prompt_eval_count !== null || m.eval_count !== null),
  );
  const used = last ? (last.prompt_eval_count || 0) + (last.eval_count || 0) : 0;
  showUsage(used, window.current_window, window.model_max_context);
}

function showUsage(used, current, max) {
  // A turn's usage does not say the model's maximum: the status did.
  if (max === undefined) max = Number(ui.usage.dataset.max) || null;
  else ui.usage.dataset.max = max || "";
  const number = (n) => n.toLocaleString();
  ui.usageMeter.max = current || 1;
  ui.usageMeter.value = Math.min(used, current || 1);
  let text = `Context: ${number(used)} of ${number(current)} tokens`;
  if (max) text += ` (model max ${number(max)})`;
  ui.usageText.textContent = text;
  ui.usage.hidden = false;
}

function setBusy(busy) {
  ui.send.disabled = busy;
  ui.stop.hidden = !busy;
  ui.stop.disabled = false;
  for (const node of ui.transcript.querySelectorAll(".message-actions button")) node.disabled = busy;
}

function startEdit(index, content) {
  if (state.turn) return;
  state.editing = { index };
  ui.message.value = content;
  ui.editBanner.hidden = false;
  ui.message.focus();
}

function cancelEdit() {
  if (!state.editing) return;
  state.editing = null;
  ui.editBanner.hidden = true;
  ui.message.value = "";
}

async function send() {
  await navigation;
  const text = ui.message.value;
  if (state.turn || !text.trim()) return;
  clearError();
  if (!state.sessionId) await newChat();
  if (state.editing) {
    const { index } = state.editing;
    await api.editMessage(state.sessionId, index, text);
    cancelEdit();
    // Everything after the edited message is gone; a new reply follows.
    state.messages = state.messages.slice(0, index + 1);
    state.messages[index] = { ...state.messages[index], content: text };
    showMessages();
    await runTurn({});
    return;
  }
  ui.message.value = "";
  appendUserMessage(ui.transcript, text);
  try {
    await runTurn({ message: text });
  } catch (error) {
    // A refused turn stored nothing: the text goes back to the box.
    if (error instanceof ApiError && !ui.message.value) ui.message.value = text;
    throw error;
  }
}

async function regenerate() {
  if (state.turn) return;
  clearError();
  // The last reply is replaced by the new one.
  const lastUser = state.messages.findLastIndex((m) => m.role === "user");
  state.messages = state.messages.slice(0, lastUser + 1);
  showMessages();
  await runTurn({});
}

/** Starts a turn and shows its reply as it streams. */
async function runTurn(body) {
  const turn = beginTurn();
  try {
    await streamTurn(state.sessionId, { ...body, think: ui.think.checked }, (name, payload) =>
      onEvent(turn, name, payload), turn.controller.signal);
  } finally {
    await endTurn(turn);
  }
}

/** Follows a turn already running (after a reload, or opened from the list). */
function attach(session) {
  // The turn's events, replayed from its start, show everything after the
  // message that started it.
  const lastUser = session.messages.findLastIndex((m) => m.role === "user");
  state.messages = session.messages.slice(0, lastUser + 1);
  showMessages();
  const turn = beginTurn();
  followTurn(state.sessionId, { turnId: session.active_turn_id }, (name, payload) =>
    onEvent(turn, name, payload), turn.controller.signal)
    .catch((error) => {
      if (error instanceof ApiError && error.status === 401) {
        askForApiKey(error.message).then(() => navigate(() => openSession(turn.sessionId)));
      } else if (error.name !== "AbortError") {
        showError(error.message);
      }
    })
    .finally(() => endTurn(turn));
}

function beginTurn() {
  const turn = {
    live: new LiveReply(ui.transcript),
    controller: new AbortController(),
    stopping: false,
    failure: null,
    confirmTimer: 0,
    sessionId: state.sessionId,
  };
  state.turn = turn;
  setBusy(true);
  scrollToEnd();
  return turn;
}

function onEvent(turn, name, payload) {
  if (state.turn !== turn) return;
  if (turn.confirmTimer) {
    clearTimeout(turn.confirmTimer);
    turn.confirmTimer = 0;
  }
  if (name !== "tool_call_confirmation_required") confirmation.dismiss();
  const live = turn.live;
  switch (name) {
    case "thinking_delta":
      live.thinking(payload.content);
      break;
    case "content_delta":
      live.content(payload.content);
      break;
    case "tool_call":
      live.toolCall(payload.tool_name, payload.arguments);
      break;
    case "tool_call_confirmation_required":
      live.toolCall(payload.tool_name, payload.arguments, "waiting for approval");
      turn.confirmTimer = setTimeout(() => {
        turn.confirmTimer = 0;
        if (state.turn === turn) confirmation.ask(turn.sessionId, payload);
      }, CONFIRM_DELAY_MS);
      break;
    case "tool_result":
      live.toolResult(payload.tool_name, payload.result, payload.error);
      break;
    case "message_complete": {
      const usage = payload.context_window;
      showUsage(usage.usage_tokens, usage.current_window);
      break;
    }
    case "error":
      turn.failure = payload;
      break;
    case "agent_start":
    case "agent_planning":
    case "agent_execution":
    case "agent_tool_call":
    case "agent_tool_result":
    case "agent_complete":
      live.agent(name, payload);
      break;
    default:
      break;
  }
  const nearEnd = ui.transcript.scrollHeight - ui.transcript.scrollTop - ui.transcript.clientHeight < 80;
  if (nearEnd) requestAnimationFrame(scrollToEnd);
}

async function endTurn(turn) {
  if (turn.confirmTimer) clearTimeout(turn.confirmTimer);
  if (state.turn !== turn) return;
  const failure = turn.failure;
  const reason = failure && failure.details ? failure.details.partial_reason : null;
  turn.live.end(reason || (failure ? "stopped" : null));
  state.turn = null;
  confirmation.dismiss();
  setBusy(false);
  // A stop the user asked for is no error; anything else says what the API said.
  if (failure && !(turn.stopping && failure.code === "TURN_STOPPED")) showError(failure.message);
  // The stored conversation is the truth: ids for editing, partial marks.
  if (state.sessionId === turn.sessionId) {
    await guarded(async () => {
      const session = await api.session(turn.sessionId);
      if (state.turn || state.sessionId !== turn.sessionId) return;
      state.messages = session.messages;
      showMessages();
      await refreshUsage();
    });
  }
  await guarded(refreshSessions);
}

async function stop() {
  const turn = state.turn;
  if (!turn) return;
  turn.stopping = true;
  ui.stop.disabled = true;
  try {
    await api.cancel(turn.sessionId);
  } catch (error) {
    // Already over: its stream is ending anyway.
    if (!(error instanceof ApiError && error.code === "TURN_NOT_FOUND")) throw error;
  }
}

// --- wiring --------------------------------------------------------------

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(send);
});
ui.message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    guarded(send);
  } else if (event.key === "Escape" && state.editing) {
    cancelEdit();
  }
});
ui.stop.addEventListener("click", () => guarded(stop));
ui.newChat.addEventListener("click", () => navigate(newChat));
ui.cancelEdit.addEventListener("click", cancelEdit);
ui.promptButton.addEventListener("click", () =>
  guarded(() => promptEditor.open(state.sessionId, state.messages)));
$("error-close").addEventListener("click", clearError);
window.addEventListener("hashchange", () => {
  const id = location.hash.slice(1);
  if (id && id !== state.sessionId) navigate(() => openSession(id));
});

async function start() {
  const shown = (fallback) => (error) => {
    if (error instanceof ApiError && error.status === 401) throw error;
    showError(error.message);
    return fallback;
  };
  const [{ models }, tools] = await Promise.all([
    api.models().catch(shown({ models: [] })),
    api.tools().catch(() => ({ tools: {} })),
  ]);
  renderModels(ui.model, models);
  ui.newChat.disabled = !models.length;
  if (!models.length && ui.error.hidden) {
    showError("The server has no chat models: pull one into Ollama first.");
  }
  renderTools(ui.toolsFieldset, ui.toolList, tools.tools || {});
  const id = location.hash.slice(1);
  if (id) await openSession(id);
  else {
    showNoSession();
    await refreshSessions();
  }
}

navigate(start);
